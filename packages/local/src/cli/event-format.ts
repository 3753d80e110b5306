// How `events tail` shows one broker event. Details may echo input of invalid requests (a
// token.failed repeats what could be read), so human output drops control characters.
import type { EventEnvelope } from "@newstore-auth/core/schemas";
import { DetailType } from "@newstore-auth/core/settings";

type Detail = Record<string, unknown>;

/** The JSON line: the envelope's useful parts; a detail never carries a secret or a token. */
export function eventJson(envelope: EventEnvelope) {
  return { time: envelope.time, detailType: envelope["detail-type"], source: envelope.source, id: envelope.id, detail: envelope.detail };
}

/** time, detail-type, clientId, requester/requestId (short), then what the event says. */
export function describeEvent(envelope: EventEnvelope): string {
  const d = (envelope.detail && typeof envelope.detail === "object" ? envelope.detail : {}) as Detail;
  const type = envelope["detail-type"];
  const who = d.requester !== undefined ? `${text(d.requester)}/${text(d.requestId).slice(0, 8)}` : "";
  const columns = [
    envelope.time ?? new Date().toISOString(),
    text(type).padEnd(13),
    text(d.clientId).padEnd(20),
    ...(who ? [who] : []),
    summary(type, d),
  ];
  return columns.join("  ").trimEnd();
}

function summary(type: string, d: Detail): string {
  switch (type) {
    case DetailType.ready:
      return `v${text(d.parameterVersion)} expires ${text(d.expiresAt)}`;
    case DetailType.rotated:
      return `v${text(d.parameterVersion)} expires ${text(d.expiresAt)} reason=${text(d.reason)}`;
    case DetailType.failed:
      return `${text(d.code)} retryable=${text(d.retryable)} ${text(d.message)}`;
    case DetailType.revoked:
      return `reason=${text(d.reason)}`;
    default:
      return "";
  }
}

function text(value: unknown): string {
  if (value === undefined || value === null) return "-";
  // Terminal escapes from an echoed field must not reach the screen.
  return String(value).replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");
}
