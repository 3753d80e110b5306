// shared-ssm: containers share one SSM parameter (the same tokens/{clientId} contract). Whoever
// finds it stale fetches from NewStore and overwrites it: no coordination, last writer wins.
// For a fair comparison a container keeps the token in memory as the SDK does (until it is
// within the 300 s margin), so it reads SSM only when its copy is stale, not on every invocation.
import { consumerDefaults, createNewStoreClient, safeJson, StoredToken, tokenParameterName } from "@newstore-auth/core";
import { ssmParameterStore } from "@newstore-auth/core/aws/ssm";
import { type Container, credentialsOf, type Strategy, type StrategyContext } from "./strategy.js";

export function sharedSsmStrategy(context: StrategyContext): Strategy {
  const { world, clock } = context;
  const marginMs = consumerDefaults.minValiditySeconds * 1000;
  return {
    name: "shared-ssm",
    container(): Container {
      const clients = world.clients("consumers");
      const parameters = ssmParameterStore(clients.ssm);
      const newstore = createNewStoreClient({ tokenUrlTemplate: world.sandbox.tokenUrlTemplate });
      const memory = new Map<string, { accessToken: string; expiresAtMs: number }>();
      const fresh = (token: { expiresAtMs: number } | undefined) => !!token && token.expiresAtMs - clock.now() >= marginMs;

      async function getToken(clientId: string) {
        const held = memory.get(clientId);
        if (held && fresh(held)) return { ...held, path: "memory" as const };
        const name = tokenParameterName(world.names, clientId);
        const stored = await parameters.get(name);
        const parsed = stored ? StoredToken.safeParse(safeJson(stored.value)) : undefined;
        if (parsed?.success) {
          const token = { accessToken: parsed.data.accessToken, expiresAtMs: Date.parse(parsed.data.expiresAt) };
          if (fresh(token)) {
            memory.set(clientId, token);
            return { ...token, path: "ssm" as const };
          }
        }
        const issuedAtMs = clock.now();
        const issued = await newstore.issue(credentialsOf(context, clientId));
        const value: StoredToken = {
          clientId,
          accessToken: issued.accessToken,
          tokenType: issued.tokenType,
          scope: issued.scope,
          issuedAt: new Date(issuedAtMs).toISOString(),
          expiresAt: new Date(issuedAtMs + issued.expiresInSeconds * 1000).toISOString(),
        };
        await parameters.put(name, JSON.stringify(value)); // overwrites whatever another container wrote
        const token = { accessToken: issued.accessToken, expiresAtMs: Date.parse(value.expiresAt) };
        memory.set(clientId, token);
        return { ...token, path: "newstore" as const };
      }
      return {
        getToken,
        raw: getToken,
        destroy: () => {
          memory.clear();
          clients.destroy();
        },
      };
    },
    async stop() {},
  };
}
