import type { ErrorCode } from "./schemas.js";

/** A failure the broker answers with `token.failed`; the message is safe to publish. */
export class BrokerError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = "BrokerError";
  }
}

export type NewStoreErrorCode = "NEWSTORE_REJECTED" | "NEWSTORE_UNAVAILABLE";

export class NewStoreError extends BrokerError {
  declare readonly code: NewStoreErrorCode;

  constructor(
    code: NewStoreErrorCode,
    message: string,
    readonly attempts: number,
    readonly status?: number,
  ) {
    super(code, message, code === "NEWSTORE_UNAVAILABLE");
    this.name = "NewStoreError";
  }
}

/** Text from outside (NewStore, AWS) made safe to put in an event: no secrets, bounded, one line. */
export function sanitize(text: string, secrets: readonly string[] = [], max = 200): string {
  let out = text;
  for (const secret of secrets) if (secret) out = out.split(secret).join("[redacted]");
  out = out.replace(/[\u0000-\u001f\u007f]+/g, " ").trim();
  return out.length > max ? `${out.slice(0, max - 1)}…` : out;
}
