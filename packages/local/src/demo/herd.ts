// The demo's herd: simulated consumers publish token.requested for one cold client at once, as
// Lambdas without coordination would, and time their answers.
import { randomUUID } from "node:crypto";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { safeJson } from "@newstore-auth/core/messages";
import { putTokenRequests } from "../requests.js";
import { DetailType, EventEnvelope, type Names, TokenReady } from "@newstore-auth/core";

export interface HerdResult {
  published: number;
  ready: number;
  failed: number;
  ssmReads: number;
  /** The highest token version a reply named: the number of writes of a new client's token. */
  version: number;
  latenciesMs: number[];
  wallMs: number;
}

export async function runHerd(options: {
  names: Names;
  clientId: string;
  requester: string;
  replyQueueUrl: string;
  consumers: number;
  perConsumer: number;
  timeoutMs?: number;
}): Promise<HerdResult> {
  const { names, clientId, requester, replyQueueUrl, consumers, perConsumer, timeoutMs = 60_000 } = options;
  const total = consumers * perConsumer;
  const sentAt = new Map<string, number>();
  const latenciesMs: number[] = [];
  let ready = 0;
  let failed = 0;
  let version = 0;
  let ssmReads = 0;
  const started = Date.now();

  const simulated = Array.from({ length: consumers }, () => {
    const ssm = new SSMClient({ maxAttempts: 1 });
    ssm.middlewareStack.add((next) => async (args) => ((ssmReads += 1), next(args)), { step: "finalizeRequest", name: "countReads" });
    return { events: new EventBridgeClient({ maxAttempts: 1 }), sqs: new SQSClient({}), ssm };
  });

  const publish = simulated.map(async ({ events }) => {
    for (let i = 0; i < perConsumer; i += 10) {
      const details = Array.from({ length: Math.min(10, perConsumer - i) }, () => ({ requestId: randomUUID(), clientId, requester }));
      const at = Date.now();
      details.forEach((d) => sentAt.set(d.requestId, at));
      await putTokenRequests(events, names.busName, requester, details);
    }
  });

  // One poller of the shared reply queue stands for all consumers: replies are interchangeable,
  // and every extra long poll costs the emulator CPU that the broker then does not get.
  const receive = simulated.slice(0, 1).map(async () => {
    while (ready + failed < total && Date.now() - started < timeoutMs) {
      const out = await simulated[0]!.sqs.send(new ReceiveMessageCommand({ QueueUrl: replyQueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
      const messages = out.Messages ?? [];
      if (messages.length === 0) continue;
      const now = Date.now();
      for (const m of messages) {
        const envelope = EventEnvelope.safeParse(safeJson(m.Body ?? ""));
        if (!envelope.success) continue;
        const detail = envelope.data.detail as { requestId?: string; clientId?: string };
        if (detail.clientId !== clientId || !detail.requestId || !sentAt.has(detail.requestId)) continue;
        latenciesMs.push(now - sentAt.get(detail.requestId)!);
        sentAt.delete(detail.requestId);
        const answer = TokenReady.safeParse(detail);
        if (envelope.data["detail-type"] === DetailType.ready && answer.success) {
          ready += 1;
          version = Math.max(version, answer.data.parameterVersion);
        } else failed += 1;
      }
      await simulated[0]!.sqs.send(
        new DeleteMessageBatchCommand({ QueueUrl: replyQueueUrl, Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }),
      );
    }
  });

  await Promise.all([...publish, ...receive]);
  // Each consumer then reads the token once, at the version it was told.
  await Promise.all(
    simulated.map(({ ssm }) =>
      ssm.send(new GetParameterCommand({ Name: `${names.parameterPrefix}/tokens/${clientId}:${version}`, WithDecryption: true })),
    ),
  );
  const wallMs = Date.now() - started;
  simulated.forEach((c) => (c.events.destroy(), c.sqs.destroy(), c.ssm.destroy()));
  return { published: total, ready, failed, ssmReads, version, latenciesMs, wallMs };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
