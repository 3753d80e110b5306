// Drives a Lambda SQS handler the way Lambda's event source mapping does: one batch at a time
// (the broker's reserved concurrency is 1), deleting only what succeeded. Failed messages stay
// on the queue and come back after its visibility timeout, and count a receive each time.
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { brokerQueue, type Logger, silentLogger } from "@newstore-auth/core";

export type SqsHandler = (
  event: SQSEvent,
  context: { getRemainingTimeInMillis(): number },
) => Promise<SQSBatchResponse | void>;

export interface PollerOptions {
  sqs: SQSClient;
  queueUrl: string;
  queueArn: string;
  region: string;
  handler: SqsHandler;
  batchSize?: number;
  /** Long-poll wait; also bounds how long stop() waits for an idle receive. */
  waitTimeSeconds?: number;
  functionTimeoutSeconds?: number;
  log?: Logger;
  onBatch?: (batch: { size: number; failed: number; ms: number }) => void;
}

export interface PollerStats {
  batches: number;
  messages: number;
  failed: number;
  receiveErrors: number;
}

export interface Poller {
  readonly stats: PollerStats;
  /** Stops after the batch in hand; resolves once the loop has ended. */
  stop(): Promise<void>;
}

export function startPoller(options: PollerOptions): Poller {
  const {
    sqs,
    queueUrl,
    handler,
    batchSize = brokerQueue.batchSize,
    waitTimeSeconds = 1,
    functionTimeoutSeconds = brokerQueue.functionTimeoutSeconds,
    log = silentLogger,
  } = options;
  const stats: PollerStats = { batches: 0, messages: 0, failed: 0, receiveErrors: 0 };
  let running = true;
  let wake: (() => void) | undefined;

  async function once(): Promise<void> {
    let messages: Message[];
    try {
      const out = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: batchSize,
          WaitTimeSeconds: waitTimeSeconds,
          MessageSystemAttributeNames: ["All"],
          MessageAttributeNames: ["All"],
        }),
      );
      messages = out.Messages ?? [];
    } catch (error) {
      // The endpoint may be down for a while: back off, keep going.
      stats.receiveErrors += 1;
      const delay = Math.min(5_000, 200 * 2 ** Math.min(stats.receiveErrors, 5));
      log.warn("receive failed; retrying", { error: (error as Error).name, delayMs: delay });
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, delay);
      });
      return;
    }
    stats.receiveErrors = 0;
    if (messages.length === 0) return;

    const started = Date.now();
    const records = messages.map((m) => toRecord(m, options));
    const ids = new Set(records.map((r) => r.messageId));
    let failed: Set<string>;
    try {
      const deadline = started + functionTimeoutSeconds * 1000;
      const response = await handler({ Records: records }, { getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()) });
      const items = response?.batchItemFailures ?? [];
      // As Lambda does: a failure naming no message of the batch fails the whole batch.
      failed = items.every((i) => ids.has(i.itemIdentifier)) ? new Set(items.map((i) => i.itemIdentifier)) : new Set(ids);
    } catch (error) {
      log.error("handler threw; the whole batch returns to the queue", { error: (error as Error).message });
      failed = new Set(ids);
    }
    const done = records.filter((r) => !failed.has(r.messageId));
    for (let i = 0; i < done.length; i += 10) {
      const chunk = done.slice(i, i + 10);
      try {
        await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: chunk.map((r, j) => ({ Id: String(j), ReceiptHandle: r.receiptHandle })),
          }),
        );
      } catch (error) {
        // Not deleted means redelivered: the broker answers a redelivery from its fresh token.
        log.warn("delete failed; the messages will be redelivered", { error: (error as Error).name });
      }
    }
    stats.batches += 1;
    stats.messages += records.length;
    stats.failed += failed.size;
    options.onBatch?.({ size: records.length, failed: failed.size, ms: Date.now() - started });
  }

  const loop = (async () => {
    while (running) await once();
  })();

  return {
    stats,
    async stop() {
      running = false;
      wake?.();
      await loop;
    },
  };
}

function toRecord(message: Message, options: PollerOptions): SQSRecord {
  const a = message.Attributes ?? {};
  return {
    messageId: message.MessageId!,
    receiptHandle: message.ReceiptHandle!,
    body: message.Body ?? "",
    attributes: {
      ApproximateReceiveCount: a.ApproximateReceiveCount ?? "1",
      SentTimestamp: a.SentTimestamp ?? String(Date.now()),
      SenderId: a.SenderId ?? "",
      ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      ...(a.SequenceNumber ? { SequenceNumber: a.SequenceNumber } : {}),
      ...(a.MessageGroupId ? { MessageGroupId: a.MessageGroupId } : {}),
      ...(a.MessageDeduplicationId ? { MessageDeduplicationId: a.MessageDeduplicationId } : {}),
    },
    messageAttributes: {},
    md5OfBody: message.MD5OfBody ?? "",
    eventSource: "aws:sqs",
    eventSourceARN: options.queueArn,
    awsRegion: options.region,
  };
}
