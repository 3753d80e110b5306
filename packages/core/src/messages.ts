// What arrives on the broker's queue, read defensively: the queue carries EventBridge envelopes
// of `token.requested` (from the bus) and the broker's own work items (schedule, admin API).
import { sanitize } from "./errors.js";
import { ClientId, describeIssues, EventEnvelope, Requester, TokenRequested } from "./schemas.js";
import { DetailType, INTERNAL_SOURCE, InternalDetailType } from "./settings.js";

export interface ReplyTo {
  requestId: string;
  clientId: string;
  requester: string;
}

export type QueueItem =
  | { kind: "request"; request: TokenRequested }
  | { kind: "refresh-due" }
  | { kind: "credentials-changed"; clientId: string }
  | { kind: "credentials-deleted"; clientId: string }
  | { kind: "invalid"; reason: string; replyTo?: ReplyTo };

export function parseQueueItem(body: string): QueueItem {
  const envelope = EventEnvelope.safeParse(safeJson(body));
  if (!envelope.success) return { kind: "invalid", reason: `not an EventBridge event: ${describeIssues(envelope.error)}` };
  const { "detail-type": detailType, source, detail } = envelope.data;
  // Work items are recognised by type and source together; anything else is read as a request.
  if (source === INTERNAL_SOURCE && (Object.values(InternalDetailType) as string[]).includes(detailType)) {
    return parseWorkItem(detailType, detail);
  }
  const replyTo = readReplyTo(detail);
  if (detailType !== DetailType.requested) {
    return { kind: "invalid", reason: `unexpected detail-type ${sanitize(detailType, [], 64)}`, replyTo };
  }
  const request = TokenRequested.safeParse(detail);
  if (!request.success) return { kind: "invalid", reason: `invalid token.requested: ${describeIssues(request.error)}`, replyTo };
  return { kind: "request", request: request.data };
}

function parseWorkItem(detailType: string, detail: unknown): QueueItem {
  if (detailType === InternalDetailType.refreshDue) return { kind: "refresh-due" };
  const kind =
    detailType === InternalDetailType.credentialsChanged
      ? "credentials-changed"
      : detailType === InternalDetailType.credentialsDeleted
        ? "credentials-deleted"
        : undefined;
  const clientId = ClientId.safeParse((detail as { clientId?: unknown } | null)?.clientId);
  if (!kind || !clientId.success) return { kind: "invalid", reason: `unreadable work item ${sanitize(detailType, [], 64)}` };
  return { kind, clientId: clientId.data };
}

/** What a reply can be routed by, read from an invalid request: own string properties only. */
function readReplyTo(detail: unknown): ReplyTo | undefined {
  if (typeof detail !== "object" || detail === null || Array.isArray(detail)) return undefined;
  const own = (key: string) => {
    const value = Object.hasOwn(detail, key) ? (detail as Record<string, unknown>)[key] : undefined;
    return typeof value === "string" ? value : undefined;
  };
  const requestId = own("requestId");
  const requester = own("requester");
  if (!requestId || requestId.length > 256 || !requester || !Requester.safeParse(requester).success) return undefined;
  return { requestId, requester, clientId: (own("clientId") ?? "").slice(0, 256) };
}

/** FIFO order must hold: once a message fails, every message after it in the batch fails too. */
export function fifoFailures(messageIds: readonly string[], failed: ReadonlySet<string>): string[] {
  const first = messageIds.findIndex((id) => failed.has(id));
  return first < 0 ? [] : messageIds.slice(first);
}

export function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
