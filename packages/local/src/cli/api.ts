// The admin API over fetch. Maps each answer to an exit code, so that commands only handle success.
import type { CredentialsMetadata, CredentialsView } from "@newstore-auth/core/admin";
import { CliError, ExitCode, type ExitCodeValue } from "./errors.js";

const REQUEST_TIMEOUT_MS = 30_000;

export interface CredentialsPage {
  items: CredentialsView[];
  nextToken?: string;
}

export interface CreateCredentials {
  client_id: string;
  client_secret: string;
  roles: string[];
  tenant?: string;
}

export type ReplaceCredentials = Partial<Omit<CreateCredentials, "client_id">>;

export interface AdminApiClient {
  create(body: CreateCredentials): Promise<CredentialsMetadata>;
  replace(clientId: string, body: ReplaceCredentials): Promise<CredentialsMetadata>;
  list(page: { limit?: number; nextToken?: string }): Promise<CredentialsPage>;
  show(clientId: string): Promise<CredentialsView>;
  remove(clientId: string): Promise<void>;
}

export function adminApiClient(baseUrl: string, apiKey: string | undefined): AdminApiClient {
  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${baseUrl}${path}`, {
        method,
        headers: {
          accept: "application/json",
          ...(apiKey !== undefined ? { "x-api-key": apiKey } : {}),
          ...(body !== undefined ? { "content-type": "application/json" } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        redirect: "error", // a redirect would resend the key to wherever it points
      });
    } catch (error) {
      throw unreachable(baseUrl, error);
    }
    const text = await response.text().catch(() => "");
    if (response.ok) return (text ? JSON.parse(text) : undefined) as T;
    throw apiError(response.status, text, apiKey === undefined);
  }

  const one = (clientId: string) => `/credentials/${encodeURIComponent(clientId)}`;
  return {
    create: (body) => call("POST", "/credentials", body),
    replace: (clientId, body) => call("PUT", one(clientId), body),
    list: ({ limit, nextToken }) => {
      const query = new URLSearchParams();
      if (limit !== undefined) query.set("limit", String(limit));
      if (nextToken) query.set("nextToken", nextToken);
      const search = query.toString();
      return call("GET", `/credentials${search ? `?${search}` : ""}`);
    },
    show: (clientId) => call("GET", one(clientId)),
    remove: (clientId) => call("DELETE", one(clientId)),
  };
}

function unreachable(baseUrl: string, error: unknown): CliError {
  const err = error as Error & { cause?: { code?: string; message?: string } };
  if (err.name === "TimeoutError") return new CliError(ExitCode.unreachable, `the admin API at ${baseUrl} did not answer within ${REQUEST_TIMEOUT_MS / 1000} s`);
  const reason = err.cause?.code ?? err.cause?.message ?? err.message;
  return new CliError(ExitCode.unreachable, `could not reach the admin API at ${baseUrl} (${reason}); is the stack running? (--api-url, NEWSTORE_AUTH_API_URL)`);
}

function exitCodeFor(status: number): ExitCodeValue {
  if (status === 403 || status === 401) return ExitCode.forbidden;
  if (status === 404) return ExitCode.notFound;
  if ([400, 405, 409, 413, 415, 422].includes(status)) return ExitCode.rejected;
  // API Gateway's throttling and a gateway that lost its backend: try again later.
  if ([429, 502, 503, 504].includes(status)) return ExitCode.unreachable;
  return ExitCode.unexpected;
}

/** The API's `{ error: { code, message, fields } }`, or API Gateway's own `{ message }`. */
function apiError(status: number, text: string, noKey: boolean): CliError {
  let body: { error?: { code?: string; message?: string; fields?: Record<string, string> }; message?: string } | undefined;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const message = body?.error?.message ?? body?.message ?? `HTTP ${status}`;
  const fields = Object.entries(body?.error?.fields ?? {}).map(([field, problem]) => `${field}: ${problem}`);
  const code = exitCodeFor(status);
  if (code === ExitCode.forbidden && noKey) fields.push("no API key given: set NEWSTORE_AUTH_API_KEY (or --api-key)");
  return new CliError(code, `${message} (HTTP ${status}${body?.error?.code ? ` ${body.error.code}` : ""})`, fields);
}
