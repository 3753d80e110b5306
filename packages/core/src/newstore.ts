// NewStore's token endpoint (Keycloak client-credentials grant), with the retry policy of the
// broker: rejections are final, rate limits and outages are retried inside a time budget.
import nodeFetch, { type RequestInit, type Response } from "node-fetch";
import { BrokerError, NewStoreError, sanitize } from "./errors.js";
import { type Clock, type IssuedToken, type TokenIssuer, systemClock } from "./ports.js";
import { type Credentials, NewStoreErrorResponse, NewStoreTokenResponse } from "./schemas.js";
import { brokerDefaults } from "./settings.js";

export interface NewStoreClientOptions {
  /** Token endpoint; `{tenant}` is replaced by the client's tenant. */
  tokenUrlTemplate?: string;
  attemptTimeoutMs?: number;
  budgetMs?: number;
  retryAfterCapMs?: number;
  backoffBaseMs?: number;
  backoffCapMs?: number;
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
  clock?: Clock;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

// OAuth errors that no retry can fix: the credentials or the requested scope are wrong.
const REJECTIONS = new Set(["invalid_client", "unauthorized_client", "invalid_scope", "invalid_grant", "invalid_request"]);

type Attempt = { token: IssuedToken } | { retry: true; reason: string; waitMs?: number; status?: number };

export function tokenUrl(template: string, tenant: string): string {
  return template.replaceAll("{tenant}", encodeURIComponent(tenant));
}

export function createNewStoreClient(options: NewStoreClientOptions = {}): TokenIssuer {
  const o = { ...brokerDefaults, ...stripUndefined(options) };
  const fetch = options.fetch ?? nodeFetch;
  const clock = options.clock ?? systemClock;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const random = options.random ?? Math.random;

  async function attempt(credentials: Credentials, timeoutMs: number): Promise<Attempt> {
    const body = new URLSearchParams({
      grant_type: "client_credentials",
      client_id: credentials.clientId,
      client_secret: credentials.clientSecret,
    });
    if (credentials.roles.length > 0) body.set("scope", credentials.roles.join(" "));
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      const response = await fetch(tokenUrl(o.tokenUrlTemplate, credentials.tenant), {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
        body,
        signal: controller.signal,
      });
      const text = await response.text();
      return interpret(response.status, response.headers.get("retry-after"), text, credentials);
    } catch (error) {
      if (error instanceof BrokerError) throw error;
      const reason = controller.signal.aborted
        ? `no answer within ${timeoutMs} ms`
        : `connection failed (${(error as { code?: string }).code ?? (error as Error).name})`;
      return { retry: true, reason };
    } finally {
      clearTimeout(timer);
    }
  }

  function interpret(status: number, retryAfter: string | null, text: string, credentials: Credentials): Attempt {
    const secrets = [credentials.clientSecret];
    const json = parseJson(text);
    if (status === 200) {
      const parsed = NewStoreTokenResponse.safeParse(json);
      if (parsed.success) {
        return {
          token: {
            accessToken: parsed.data.access_token,
            tokenType: parsed.data.token_type,
            scope: parsed.data.scope,
            expiresInSeconds: parsed.data.expires_in,
          },
        };
      }
      return { retry: true, status, reason: "answered 200 without a valid token response" };
    }
    if (status === 429) {
      return { retry: true, status, reason: "rate limited (429)", waitMs: retryAfterMs(retryAfter, clock.now()) };
    }
    // 403 is how older NewStore docs describe per-IP rate limiting; 408 is a timeout.
    if (status >= 500 || status === 403 || status === 408) {
      return { retry: true, status, reason: `answered ${status}` };
    }
    const oauth = NewStoreErrorResponse.safeParse(json);
    const detail = oauth.success
      ? `${oauth.data.error}${oauth.data.error_description ? ` (${oauth.data.error_description})` : ""}`
      : `HTTP ${status}`;
    if (status === 400 || status === 401 || status === 404 || (oauth.success && REJECTIONS.has(oauth.data.error))) {
      throw new NewStoreError(
        "NEWSTORE_REJECTED",
        sanitize(`NewStore rejected client ${credentials.clientId} of tenant ${credentials.tenant}: ${detail}`, secrets),
        1,
        status,
      );
    }
    return { retry: true, status, reason: `answered ${status}` };
  }

  return {
    async issue(credentials, { timeLeftMs = Number.POSITIVE_INFINITY } = {}) {
      const start = clock.now();
      const end = start + Math.min(o.budgetMs, timeLeftMs);
      let attempts = 0;
      let last: { reason: string; status?: number } = { reason: "no time left to call it" };
      for (;;) {
        const remaining = end - clock.now();
        if (remaining <= 0) break;
        attempts += 1;
        let result: Attempt;
        try {
          result = await attempt(credentials, Math.min(o.attemptTimeoutMs, remaining));
        } catch (error) {
          if (error instanceof NewStoreError) {
            throw new NewStoreError(error.code, error.message, attempts, error.status);
          }
          throw error;
        }
        if ("token" in result) return result.token;
        last = result;
        const backoff = random() * Math.min(o.backoffCapMs, o.backoffBaseMs * 2 ** (attempts - 1));
        const wait = result.waitMs !== undefined ? Math.min(result.waitMs, o.retryAfterCapMs) : backoff;
        if (clock.now() + wait >= end) break;
        await sleep(wait);
      }
      throw new NewStoreError(
        "NEWSTORE_UNAVAILABLE",
        sanitize(`NewStore unavailable for client ${credentials.clientId} after ${attempts} attempt(s): ${last.reason}`, [
          credentials.clientSecret,
        ]),
        attempts,
        last.status,
      );
    },
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Retry-After is either seconds or an HTTP date. */
export function retryAfterMs(header: string | null, now: number): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
