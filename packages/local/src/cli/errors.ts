// Exit codes are an interface: scripts branch on them, so they only ever gain meanings.

export const ExitCode = {
  ok: 0,
  unexpected: 1,
  /** Usage error, or input the CLI itself rejected before calling anything. */
  usage: 2,
  /** The admin API rejected the request (400, 409, 413, 415). */
  rejected: 3,
  /** The admin API found no such client (404). */
  notFound: 4,
  /** The admin API refused the key (403), or AWS refused the credentials. */
  forbidden: 5,
  /** The broker answered token.failed. */
  tokenFailed: 6,
  /** Timed out, or could not reach the admin API, AWS or the broker's stack. */
  unreachable: 7,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export const EXIT_CODE_HELP = `Exit codes:
  0  ok
  1  unexpected error
  2  usage error, or input the CLI rejected itself
  3  the API rejected the request (400, 409, 413, 415)
  4  not found (404)
  5  forbidden: missing or wrong API key (403), or AWS refused the credentials
  6  the broker answered token.failed (code and retryable are printed)
  7  timed out, or could not reach the API, AWS or the stack`;

/** An expected failure: printed as one `error:` line (plus details), never as a stack trace. */
export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCodeValue,
    message: string,
    /** Extra lines printed under the message, e.g. field errors as `field: problem`. */
    readonly details: string[] = [],
  ) {
    super(message);
    this.name = "CliError";
  }
}

export const usageError = (message: string) => new CliError(ExitCode.usage, message);
