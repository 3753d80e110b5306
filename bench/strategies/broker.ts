// broker: the consumer SDK (createTokenClient on the AWS ports) in every container, and the real
// broker handler behind the queue poller, on the same clock.
import { createTokenClient } from "@newstore-auth/client";
import { awsPorts } from "@newstore-auth/client/aws";
import { refreshSchedule } from "@newstore-auth/core";
import { REQUESTER } from "../world.js";
import type { Container, Path, Strategy, StrategyContext } from "./strategy.js";

/** How long a container waits for the broker. moto is far slower than AWS; the SDK's 10 s is not the point here. */
const TIMEOUT_MS = 180_000;

export function brokerStrategy(context: StrategyContext): Strategy {
  const { world, provisioned, clock } = context;
  const broker = world.deployBroker(provisioned, clock);
  const everySeconds = refreshSchedule.everyMinutes * 60;
  const settings = {
    requester: REQUESTER,
    busName: world.names.busName,
    replyQueueUrl: provisioned.replies.url,
    parameterPrefix: world.names.parameterPrefix,
  };
  return {
    name: "broker",
    broker,
    container(): Container {
      const clients = world.clients("consumers");
      const ports = { ...awsPorts(clients, { ...settings, source: REQUESTER }), now: () => clock.now() };
      const tokens = createTokenClient({ ...settings, timeoutMs: TIMEOUT_MS, ports });
      return {
        async getToken(clientId) {
          const { requests, ssmReads } = tokens.stats;
          const token = await tokens.getToken(clientId);
          const path: Path = tokens.stats.requests > requests ? "broker" : tokens.stats.ssmReads > ssmReads ? "ssm" : "memory";
          return { accessToken: token.accessToken, expiresAtMs: Date.parse(token.expiresAt), path };
        },
        raw: (clientId) => tokens.getToken(clientId),
        rereads: () => tokens.stats.rereads,
        destroy: () => clients.destroy(),
      };
    },
    async tick(now, elapsedSeconds) {
      if (elapsedSeconds % everySeconds === 0) await broker.refreshDue(now);
    },
    stop: () => broker.stop(),
  };
}
