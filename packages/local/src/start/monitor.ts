// A live line per broker event, with the time from request to answer: what `npm start` shows.
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { safeJson } from "@newstore-auth/core/messages";
import { DetailType, EventEnvelope } from "@newstore-auth/core";
import { clock } from "./console-log.js";

export interface Monitor {
  stop(): Promise<void>;
}

export function startMonitor(sqs: SQSClient, queueUrl: string, write: (line: string) => void): Monitor {
  let running = true;
  const asked = new Map<string, number>(); // requestId -> when its request was seen
  const loop = (async () => {
    while (running) {
      try {
        const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
        const messages = out.Messages ?? [];
        if (messages.length === 0) continue;
        const seen = Date.now();
        const lines = messages.flatMap((m) => describe(safeJson(m.Body ?? ""), seen, asked));
        lines.forEach(write);
        await sqs.send(
          new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }),
        );
      } catch {
        if (running) await new Promise((r) => setTimeout(r, 1000)); // the endpoint is away; try again
      }
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
    },
  };
}

export function describe(raw: unknown, seen: number, asked: Map<string, number>): string[] {
  const envelope = EventEnvelope.safeParse(raw);
  if (!envelope.success) return [];
  const d = envelope.data.detail as Record<string, unknown>;
  const type = envelope.data["detail-type"];
  const client = String(d.clientId ?? "").padEnd(16);
  const request = typeof d.requestId === "string" ? `req ${d.requestId.slice(0, 8)}` : "";
  const latency = () => {
    const at = typeof d.requestId === "string" ? asked.get(d.requestId) : undefined;
    if (at === undefined) return "";
    asked.delete(d.requestId as string);
    return `  (${Math.max(0, seen - at)} ms)`;
  };
  const time = (iso: unknown) => (typeof iso === "string" ? clock(new Date(iso)) : "?");
  const head = `${clock()}  ${type.replace("token.", "").padEnd(9)}  ${client}`;
  switch (type) {
    case DetailType.requested:
      if (typeof d.requestId === "string") asked.set(d.requestId, seen);
      // keep the map bounded if answers never come
      if (asked.size > 10_000) asked.delete(asked.keys().next().value!);
      return [];
    case DetailType.ready:
      return [`${head}  ${request}  v${d.parameterVersion}  expires ${time(d.expiresAt)}  to ${d.requester}${latency()}`];
    case DetailType.failed:
      return [`${head}  ${request}  ${d.code}${d.retryable ? " (retryable)" : ""}: ${d.message}${latency()}`];
    case DetailType.rotated:
      return [`${head}  v${d.parameterVersion}  ${d.reason}  expires ${time(d.expiresAt)}`];
    case DetailType.revoked:
      return [`${head}  ${d.reason}`];
    default:
      return [];
  }
}
