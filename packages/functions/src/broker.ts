// The broker Lambda: SQS FIFO batch in, partial batch response out. Only wiring; the logic is
// in @newstore-auth/core.
import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import type { Broker } from "@newstore-auth/core/broker";
import type { Clock, Logger as LogPort } from "@newstore-auth/core/ports";
import { createBrokerFromEnv, type AwsClientOptions } from "@newstore-auth/core/runtime";
import { brokerDefaults, brokerQueue } from "@newstore-auth/core/settings";
import { powertoolsLogger } from "./logger.js";
import { powertoolsMetrics } from "./metrics.js";

export interface BrokerHandlerOptions {
  env?: Record<string, string | undefined>;
  log?: LogPort;
  aws?: AwsClientOptions;
  /** Simulations (tests, benchmarks) run the broker on a fake clock. */
  clock?: Clock;
}

export type BrokerHandler = (event: SQSEvent, context?: Pick<Context, "getRemainingTimeInMillis">) => Promise<SQSBatchResponse>;

export function createBrokerHandler({ env = process.env, log, aws, clock }: BrokerHandlerOptions = {}): BrokerHandler {
  let broker: Broker | undefined; // built on the first batch, kept while the container is warm
  const metrics = powertoolsMetrics("newstore-auth-broker");
  return async (event, context) => {
    broker ??= createBrokerFromEnv(env, log ?? powertoolsLogger("newstore-auth-broker"), aws, clock, metrics);
    const end = Date.now() + brokerQueue.functionTimeoutSeconds * 1000;
    const remaining = () => context?.getRemainingTimeInMillis() ?? end - Date.now();
    const { failedMessageIds } = await broker.handleBatch(
      event.Records.map((record) => ({ messageId: record.messageId, body: record.body })),
      { timeLeftMs: () => remaining() - brokerDefaults.batchReserveMs },
    );
    metrics.flush();
    return { batchItemFailures: failedMessageIds.map((itemIdentifier) => ({ itemIdentifier })) };
  };
}

export const handler = createBrokerHandler();
