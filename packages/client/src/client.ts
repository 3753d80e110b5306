// getToken for consumers: memory first, then SSM, then the broker — one fetch per client per
// process however many callers ask at once. The client holds connections, never a stale token:
// a cached token is returned only while it outlives minValiditySeconds.
import { randomUUID } from "node:crypto";
import { safeJson } from "@newstore-auth/core/messages";
import { EventEnvelope, Requester, StoredToken, TokenFailed, TokenReady, TokenRevoked, TokenRotated } from "@newstore-auth/core/schemas";
import { BROKER_SOURCE, consumerDefaults, DetailType, tokenParameterName } from "@newstore-auth/core/settings";
import { type AwsClients, awsPorts } from "./aws.js";
import { TokenRequestFailedError, TokenTimeoutError } from "./errors.js";
import type { ConsumerPorts } from "./ports.js";

export interface TokenClientOptions {
  /** This consumer's name: replies are routed to its queue by it. */
  requester: string;
  busName: string;
  replyQueueUrl: string;
  /** `/newstore-auth/{stage}` */
  parameterPrefix: string;
  /** A token is returned only while it stays valid this long (default 300). */
  minValiditySeconds?: number;
  /** How long getToken waits for the broker (default 10 000). */
  timeoutMs?: number;
  /** SDK clients to use (they carry region, credentials and endpoint). */
  clients?: AwsClients;
  /** First re-read of SSM while waiting, in case a sibling took the reply (then doubling). */
  rereadAfterMs?: number;
  /** Replaces the AWS adapters (unit tests). */
  ports?: ConsumerPorts;
}

export interface Token {
  clientId: string;
  accessToken: string;
  tokenType: string;
  scope: string;
  issuedAt: string;
  expiresAt: string;
  parameterName: string;
  parameterVersion: number;
}

export interface RotationNotice {
  clientId: string;
  /** `requested`, `scheduled`, `forced`, `credentials-changed`, or the revocation's reason. */
  reason: string;
  revoked: boolean;
  parameterVersion?: number;
  expiresAt?: string;
}

export interface TokenClientStats {
  cacheHits: number;
  ssmReads: number;
  /** token.requested published: calls that waited on the broker. */
  requests: number;
  rereads: number;
  timeouts: number;
}

export interface TokenClient {
  getToken(clientId: string, options?: { signal?: AbortSignal; minValiditySeconds?: number }): Promise<Token>;
  /** Long-running processes: keep the cache current from token.rotated / token.revoked. */
  onRotated(handler: (notice: RotationNotice) => void | Promise<void>): { stop(): Promise<void> };
  /** Lambda side: apply a token.rotated / token.revoked event (EventBridge event or SQS body). */
  applyEvent(event: unknown): Promise<boolean>;
  readonly stats: Readonly<TokenClientStats>;
}

type Outcome = { type: "ready"; detail: TokenReady } | { type: "failed"; detail: TokenFailed };

/** Outcomes for one waiting fetch, in arrival order. */
class Mailbox {
  private items: Outcome[] = [];
  private taker?: (outcome: Outcome) => void;
  /** An answer came: the pump need not poll on this fetch's behalf any more. */
  answered = false;
  constructor(readonly requestId: string) {}
  push(outcome: Outcome) {
    this.answered = true;
    if (this.taker) {
      const take = this.taker;
      this.taker = undefined;
      take(outcome);
    } else this.items.push(outcome);
  }
  take(): Promise<Outcome> {
    const next = this.items.shift();
    return next ? Promise.resolve(next) : new Promise((resolve) => (this.taker = resolve));
  }
}

export function createTokenClient(options: TokenClientOptions): TokenClient {
  const requester = Requester.safeParse(options.requester);
  if (!requester.success) throw new Error(`requester must be 1-256 of A-Z a-z 0-9 _ . : @ / -, got ${JSON.stringify(options.requester)}`);
  for (const key of ["busName", "replyQueueUrl", "parameterPrefix"] as const) {
    if (!options[key]) throw new Error(`createTokenClient: ${key} is required`);
  }
  const minValiditySeconds = options.minValiditySeconds ?? consumerDefaults.minValiditySeconds;
  const timeoutMs = options.timeoutMs ?? consumerDefaults.timeoutMs;
  const rereadAfterMs = options.rereadAfterMs ?? 1_500;
  const names = { parameterPrefix: options.parameterPrefix.replace(/\/+$/, "") };
  const ports =
    options.ports ??
    awsPorts(options.clients ?? {}, { busName: options.busName, replyQueueUrl: options.replyQueueUrl, source: options.requester });

  const stats: TokenClientStats = { cacheHits: 0, ssmReads: 0, requests: 0, rereads: 0, timeouts: 0 };
  const cache = new Map<string, Token>();
  const inflight = new Map<string, { promise: Promise<Token>; minValiditySeconds: number }>();
  const mailboxes = new Map<string, Set<Mailbox>>();
  const subscribers = new Set<(notice: RotationNotice) => void | Promise<void>>();
  let pump: Promise<void> | undefined;

  const validFor = (token: Token) => Date.parse(token.expiresAt) - ports.now();
  const fresh = (token: Token | undefined, seconds: number): token is Token => !!token && validFor(token) >= seconds * 1000;

  function remember(token: Token): Token {
    const current = cache.get(token.clientId);
    if (!current || current.parameterVersion <= token.parameterVersion) cache.set(token.clientId, token);
    return token;
  }

  async function read(clientId: string, version?: number): Promise<Token | undefined> {
    const parameterName = tokenParameterName(names, clientId);
    stats.ssmReads += 1;
    const found = await ports.readParameter(version ? `${parameterName}:${version}` : parameterName);
    if (!found) return undefined;
    const parsed = StoredToken.safeParse(safeJson(found.value));
    // An unreadable value is treated as missing: the broker replaces it when asked.
    if (!parsed.success || parsed.data.clientId !== clientId) return undefined;
    return { ...parsed.data, parameterName, parameterVersion: found.version };
  }

  // Poll only while someone still waits: a Lambda container frozen mid-poll would otherwise take
  // (and delete) replies its siblings are waiting for.
  const needsReplies = () => subscribers.size > 0 || [...mailboxes.values()].some((boxes) => [...boxes].some((b) => !b.answered));

  function ensurePump() {
    if (pump) return;
    pump = (async () => {
      let failures = 0;
      while (needsReplies()) {
        try {
          const replies = await ports.receiveReplies(1);
          failures = 0;
          for (const reply of replies) {
            await dispatch(reply.envelope);
            await reply.ack().catch(() => undefined); // an undeleted reply only comes back once more
          }
        } catch {
          failures += 1;
          await ports.sleep(Math.min(5_000, 100 * 2 ** failures));
        }
      }
    })().finally(() => {
      pump = undefined;
      if (needsReplies()) ensurePump();
    });
  }

  async function dispatch(raw: unknown): Promise<boolean> {
    const envelope = EventEnvelope.safeParse(raw);
    if (!envelope.success || envelope.data.source !== BROKER_SOURCE) return false;
    const { "detail-type": type, detail } = envelope.data;
    if (type === DetailType.ready) {
      const ready = TokenReady.safeParse(detail);
      // Replies are interchangeable: any token.ready for the client serves every waiter.
      if (ready.success) for (const box of mailboxes.get(ready.data.clientId) ?? []) box.push({ type: "ready", detail: ready.data });
      return ready.success;
    }
    if (type === DetailType.failed) {
      const failed = TokenFailed.safeParse(detail);
      if (failed.success) {
        for (const box of mailboxes.get(failed.data.clientId) ?? []) {
          if (box.requestId === failed.data.requestId) box.push({ type: "failed", detail: failed.data });
        }
      }
      return failed.success;
    }
    if (type === DetailType.rotated) {
      const rotated = TokenRotated.safeParse(detail);
      if (!rotated.success) return false;
      const { clientId, parameterVersion, expiresAt, reason } = rotated.data;
      const cached = cache.get(clientId);
      if (cached && cached.parameterVersion < parameterVersion) cache.delete(clientId); // next getToken reads the new one
      if (subscribers.size > 0) {
        const token = await read(clientId, parameterVersion).catch(() => undefined);
        if (token) remember(token);
        await notify({ clientId, reason, revoked: false, parameterVersion, expiresAt });
      }
      return true;
    }
    if (type === DetailType.revoked) {
      const revoked = TokenRevoked.safeParse(detail);
      if (!revoked.success) return false;
      cache.delete(revoked.data.clientId);
      await notify({ clientId: revoked.data.clientId, reason: revoked.data.reason, revoked: true });
      return true;
    }
    return false;
  }

  async function notify(notice: RotationNotice) {
    for (const handler of subscribers) {
      try {
        await handler(notice);
      } catch {
        // A subscriber's failure is its own; the others are still told.
      }
    }
  }

  async function fetchToken(clientId: string, seconds: number): Promise<Token> {
    const deadline = ports.now() + timeoutMs;
    const stored = await untilDeadline(() => read(clientId), clientId, deadline, "read the stored token");
    if (fresh(stored, seconds)) return remember(stored);

    const requestId = randomUUID();
    const box = new Mailbox(requestId);
    const boxes = mailboxes.get(clientId) ?? new Set<Mailbox>();
    boxes.add(box);
    mailboxes.set(clientId, boxes);
    ensurePump();
    try {
      stats.requests += 1;
      const detail = { requestId, clientId, requester: options.requester, minValiditySeconds: seconds };
      await untilDeadline(() => ports.publishRequest(detail), clientId, deadline, "publish the request");
      let rereadIn = rereadAfterMs;
      for (;;) {
        const remaining = deadline - ports.now();
        if (remaining <= 0) {
          stats.timeouts += 1;
          throw new TokenTimeoutError(clientId, timeoutMs);
        }
        const stopWaiting = new AbortController();
        const outcome = await Promise.race([box.take(), ports.sleep(Math.min(rereadIn, remaining), stopWaiting.signal).then(() => undefined)]);
        stopWaiting.abort();
        if (outcome?.type === "failed") {
          const { code, retryable, message } = outcome.detail;
          throw new TokenRequestFailedError(clientId, code, retryable, message, requestId);
        }
        if (outcome?.type === "ready") {
          const token = await read(clientId, outcome.detail.parameterVersion);
          // The broker may answer with a token inside the margin (NewStore down); it is still valid.
          if (token && validFor(token) > 0) return remember(token);
          continue;
        }
        // No reply yet: a sibling container may have taken it off the shared queue.
        stats.rereads += 1;
        const again = await read(clientId).catch(() => undefined); // AWS away: keep waiting
        if (fresh(again, seconds)) return remember(again);
        rereadIn = Math.min(rereadIn * 2, 4_000);
      }
    } finally {
      boxes.delete(box);
      if (boxes.size === 0) mailboxes.delete(clientId);
    }
  }

  /** AWS may be away for a moment (throttling, a network blip): retry until the deadline. */
  async function untilDeadline<T>(step: () => Promise<T>, clientId: string, deadline: number, what: string): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await step();
      } catch (error) {
        const wait = Math.min(2_000, 100 * 2 ** attempt);
        if (ports.now() + wait >= deadline) {
          stats.timeouts += 1;
          throw new TokenTimeoutError(clientId, timeoutMs, error, what);
        }
        await ports.sleep(wait);
      }
    }
  }

  function shared(clientId: string, seconds: number): { promise: Promise<Token>; minValiditySeconds: number } {
    const running = inflight.get(clientId);
    if (running) return running;
    const flight = {
      minValiditySeconds: seconds,
      promise: fetchToken(clientId, seconds).finally(() => inflight.delete(clientId)),
    };
    inflight.set(clientId, flight);
    return flight;
  }

  async function getToken(clientId: string, { signal, minValiditySeconds: asked }: { signal?: AbortSignal; minValiditySeconds?: number } = {}) {
    signal?.throwIfAborted();
    const seconds = asked ?? minValiditySeconds;
    const cached = cache.get(clientId);
    if (fresh(cached, seconds)) {
      stats.cacheHits += 1;
      return cached;
    }
    if (cached) cache.delete(clientId); // never keep a token past its use
    let flight = shared(clientId, seconds);
    let token = await abortable(flight.promise, signal);
    if (!fresh(token, seconds) && flight.minValiditySeconds < seconds) {
      // Joined a fetch that asked for less validity than this caller needs.
      flight = shared(clientId, seconds);
      token = await abortable(flight.promise, signal);
    }
    return token;
  }

  return {
    getToken,
    onRotated(handler) {
      subscribers.add(handler);
      ensurePump();
      return {
        async stop() {
          subscribers.delete(handler);
          if (!needsReplies()) await pump;
        },
      };
    },
    applyEvent(event) {
      return dispatch(typeof event === "string" ? safeJson(event) : event);
    },
    stats,
  };
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
