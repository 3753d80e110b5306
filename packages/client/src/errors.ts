import type { ErrorCode } from "@newstore-auth/core/schemas";

/** No token within `timeoutMs`: the broker did not answer and SSM held no fresh token. */
export class TokenTimeoutError extends Error {
  readonly retryable = true;
  constructor(
    readonly clientId: string,
    readonly timeoutMs: number,
    /** What kept it from reaching AWS, when it could not. */
    cause?: unknown,
    what = "reach AWS",
  ) {
    super(`no token for client ${clientId} within ${timeoutMs} ms${cause ? ` (could not ${what}: ${(cause as Error).name})` : ""}`, { cause });
    this.name = "TokenTimeoutError";
  }
}

/** The broker answered `token.failed`. */
export class TokenRequestFailedError extends Error {
  constructor(
    readonly clientId: string,
    readonly code: ErrorCode,
    readonly retryable: boolean,
    message: string,
    readonly requestId: string,
  ) {
    super(message);
    this.name = "TokenRequestFailedError";
  }
}
