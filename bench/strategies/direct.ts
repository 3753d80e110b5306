// direct: every container fetches its own token from NewStore and keeps it in memory until it is
// within the margin of expiry (what a lone integration does).
import { consumerDefaults, createNewStoreClient } from "@newstore-auth/core";
import { type Container, credentialsOf, type Strategy, type StrategyContext } from "./strategy.js";

export function directStrategy(context: StrategyContext): Strategy {
  const { world, clock } = context;
  const marginMs = consumerDefaults.minValiditySeconds * 1000;
  return {
    name: "direct",
    container(): Container {
      const newstore = createNewStoreClient({ tokenUrlTemplate: world.sandbox.tokenUrlTemplate });
      const memory = new Map<string, { accessToken: string; expiresAtMs: number }>();
      async function getToken(clientId: string) {
        const held = memory.get(clientId);
        if (held && held.expiresAtMs - clock.now() >= marginMs) return { ...held, path: "memory" as const };
        const issuedAt = clock.now(); // before the call: expiry errs early, as the broker's does
        const issued = await newstore.issue(credentialsOf(context, clientId));
        const token = { accessToken: issued.accessToken, expiresAtMs: issuedAt + issued.expiresInSeconds * 1000 };
        memory.set(clientId, token);
        return { ...token, path: "newstore" as const };
      }
      return { getToken, raw: getToken, destroy: () => memory.clear() };
    },
    async stop() {},
  };
}
