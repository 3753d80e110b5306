// The broker's logic for one SQS batch. Pure: every effect goes through the ports passed in, so
// the same code runs in Lambda, in the local runtime and in unit tests with in-memory ports.
import { BrokerError, sanitize } from "./errors.js";
import { fifoFailures, parseQueueItem, safeJson } from "./messages.js";
import { type Clock, type EventPublisher, type Logger, type Metrics, noMetrics, type ParameterStore, type TokenIssuer } from "./ports.js";
import { type BrokerEvent, Credentials, describeIssues, type RotationReason, StoredToken, type TokenRequested } from "./schemas.js";
import {
  brokerDefaults,
  credentialsParameterName,
  DetailType,
  type Names,
  tokenParameterName,
  usageParameterName,
} from "./settings.js";
import { createUsageTracker } from "./usage.js";

export interface BrokerConfig {
  names: Pick<Names, "parameterPrefix">;
  marginSeconds?: number;
  forceRefreshIntervalSeconds?: number;
  rejectionHoldSeconds?: number;
  refreshAheadSeconds?: number;
  idleWindowSeconds?: number;
  usageWriteIntervalSeconds?: number;
}

export interface BrokerPorts {
  parameters: ParameterStore;
  events: EventPublisher;
  newstore: TokenIssuer;
  clock: Clock;
  log: Logger;
  metrics?: Metrics;
}

export interface QueueMessage {
  messageId: string;
  body: string;
}

/** The last token the broker wrote or read for a client, as it stands in SSM. */
export interface CachedToken {
  parameterName: string;
  version: number;
  token: StoredToken;
  issuedAtMs: number;
  expiresAtMs: number;
}

interface Pending {
  messageId: string;
  request: TokenRequested;
}

interface Outgoing {
  event: BrokerEvent;
  /** The message this event answers; when it cannot be published, that message is retried. */
  messageId?: string;
}

interface ClientOutcome {
  events: Outgoing[];
  /** Messages to hand back to SQS for redelivery (an unexpected error, not an answer). */
  retry: string[];
}

export interface BatchResult {
  /** In FIFO order: the first message that failed and every message after it. */
  failedMessageIds: string[];
}

export interface Broker {
  /**
   * `timeLeftMs` is the batch's remaining time (Lambda's, less a reserve), measured in real time:
   * the domain clock may be simulated.
   */
  handleBatch(messages: QueueMessage[], options?: { timeLeftMs?: () => number }): Promise<BatchResult>;
  /** The in-memory token cache of this container; SSM stays the source of truth. */
  readonly memory: Map<string, CachedToken>;
}

export function createBroker(config: BrokerConfig, ports: BrokerPorts): Broker {
  const marginSeconds = config.marginSeconds ?? brokerDefaults.marginSeconds;
  const forceIntervalMs = (config.forceRefreshIntervalSeconds ?? brokerDefaults.forceRefreshIntervalSeconds) * 1000;
  const rejectionHoldMs = (config.rejectionHoldSeconds ?? brokerDefaults.rejectionHoldSeconds) * 1000;
  const refreshAheadMs = (config.refreshAheadSeconds ?? brokerDefaults.refreshAheadSeconds) * 1000;
  const idleWindowMs = (config.idleWindowSeconds ?? brokerDefaults.idleWindowSeconds) * 1000;
  const { parameters, events, newstore, clock, log } = ports;
  const metrics = ports.metrics ?? noMetrics;
  const memory = new Map<string, CachedToken>();
  // Counted through a batch, published once at its end: a few EMF lines per batch, not per request.
  const tally = new Map<string, number>();
  const counted = (name: string, dimension: string, value: string, n = 1) => {
    const key = `${name}\u0000${dimension}\u0000${value}`;
    tally.set(key, (tally.get(key) ?? 0) + n);
  };
  const usage = createUsageTracker(config.names, ports, (config.usageWriteIntervalSeconds ?? brokerDefaults.usageWriteIntervalSeconds) * 1000);
  // Rejected credentials, by client: a herd of requests (or consumers retrying) must not turn
  // one rejection into a storm of calls. Keyed by updatedAt, so new credentials are tried at once.
  const rejections = new Map<string, { updatedAt: string; untilMs: number; error: BrokerError }>();

  /**
   * Valid for the validity asked for. The ask is capped below the token's own lifetime: a client
   * whose NewStore TTL is shorter than the margin (or than a consumer's minValiditySeconds) would
   * otherwise make every request call NewStore.
   */
  function isFresh(cached: CachedToken, requiredSeconds: number): boolean {
    const lifetimeMs = cached.expiresAtMs - cached.issuedAtMs;
    const capMs = Math.max(lifetimeMs - forceIntervalMs, lifetimeMs / 2);
    return cached.expiresAtMs - clock.now() >= Math.min(requiredSeconds * 1000, capMs);
  }

  const mayForce = (cached: CachedToken) => clock.now() - cached.issuedAtMs >= forceIntervalMs;

  async function readToken(clientId: string): Promise<CachedToken | undefined> {
    const parameterName = tokenParameterName(config.names, clientId);
    const stored = await parameters.get(parameterName);
    if (!stored) return undefined;
    const parsed = StoredToken.safeParse(safeJson(stored.value));
    if (!parsed.success || parsed.data.clientId !== clientId) {
      log.warn("stored token is unreadable; it will be replaced", { clientId, parameterName, version: stored.version });
      return undefined;
    }
    return toCached(parameterName, stored.version, parsed.data);
  }

  async function readCredentials(clientId: string): Promise<Credentials> {
    const parameterName = credentialsParameterName(config.names, clientId);
    const stored = await parameters.get(parameterName);
    if (!stored) {
      throw new BrokerError("UNKNOWN_CLIENT", `no credentials are registered for client ${clientId}`, false);
    }
    const parsed = Credentials.safeParse(safeJson(stored.value));
    if (!parsed.success || parsed.data.clientId !== clientId) {
      // The issues name fields only; the value holds the secret and is never logged.
      log.error("stored credentials are unreadable", {
        clientId,
        parameterName,
        issues: parsed.success ? "clientId does not match" : describeIssues(parsed.error),
      });
      throw new BrokerError("INTERNAL", `the stored credentials of client ${clientId} are unreadable`, false);
    }
    return parsed.data;
  }

  async function issue(credentials: Credentials, timeLeft: () => number) {
    const { clientId, updatedAt } = credentials;
    const held = rejections.get(clientId);
    if (held && held.updatedAt === updatedAt && clock.now() < held.untilMs) {
      log.info("NewStore rejected these credentials recently; not asking again", { clientId, until: new Date(held.untilMs).toISOString() });
      counted("NewStoreCallsSaved", "Reason", "rejection-held");
      throw held.error;
    }
    try {
      const issued = await newstore.issue(credentials, { timeLeftMs: timeLeft() });
      rejections.delete(clientId);
      counted("NewStoreCalls", "Outcome", "ok");
      return issued;
    } catch (error) {
      counted("NewStoreCalls", "Outcome", error instanceof BrokerError ? error.code : "error");
      if (error instanceof BrokerError && error.code === "NEWSTORE_REJECTED") {
        rejections.set(clientId, { updatedAt, untilMs: clock.now() + rejectionHoldMs, error });
      }
      throw error;
    }
  }

  async function refresh(credentials: Credentials, timeLeft: () => number): Promise<CachedToken> {
    const issuedAtMs = clock.now(); // before the call, so expiresAt errs early, never late
    const issued = await issue(credentials, timeLeft);
    const token: StoredToken = {
      clientId: credentials.clientId,
      accessToken: issued.accessToken,
      tokenType: issued.tokenType,
      scope: issued.scope,
      issuedAt: new Date(issuedAtMs).toISOString(),
      expiresAt: new Date(issuedAtMs + issued.expiresInSeconds * 1000).toISOString(),
    };
    const parameterName = tokenParameterName(config.names, credentials.clientId);
    const { version } = await parameters.put(parameterName, JSON.stringify(token));
    const cached = toCached(parameterName, version, token);
    memory.set(credentials.clientId, cached);
    return cached;
  }

  async function serveClient(clientId: string, pending: Pending[], timeLeft: () => number): Promise<ClientOutcome> {
    const outcome = await decide(clientId, pending, timeLeft);
    for (const { event } of outcome.events) {
      if (event.detailType === DetailType.ready) {
        counted("RequestsAnswered", "Result", "ready");
        const served = memory.get(clientId);
        if (served) metrics.observe("TokenAgeSeconds", Math.max(0, (clock.now() - served.issuedAtMs) / 1000), "Seconds");
      } else if (event.detailType === DetailType.failed) counted("RequestsAnswered", "Result", event.detail.code);
    }
    // Only a client that was served counts as used: unknown or rejected ones are not kept warm.
    if (outcome.events.some((o) => o.event.detailType === DetailType.ready)) await usage.touch(clientId);
    return outcome;
  }

  async function decide(clientId: string, pending: Pending[], timeLeft: () => number): Promise<ClientOutcome> {
    const ready = (cached: CachedToken): Outgoing[] =>
      pending.map(({ messageId, request }) => ({
        messageId,
        event: {
          detailType: DetailType.ready,
          detail: {
            requestId: request.requestId,
            clientId,
            requester: request.requester,
            parameterName: cached.parameterName,
            parameterVersion: cached.version,
            expiresAt: cached.token.expiresAt,
          },
        },
      }));
    const failed = (error: BrokerError): Outgoing[] =>
      pending.map(({ messageId, request }) => ({
        messageId,
        event: failure(request.requestId, clientId, request.requester, error),
      }));

    const required = Math.max(marginSeconds, ...pending.map((p) => p.request.minValiditySeconds ?? 0));
    const forceAsked = pending.some((p) => p.request.forceRefresh === true);
    try {
      let current = memory.get(clientId);
      let source = "memory";
      if (!current || !isFresh(current, required) || (forceAsked && mayForce(current))) {
        source = "ssm";
        current = await readToken(clientId); // SSM is the source of truth
        if (current) memory.set(clientId, current);
        else memory.delete(clientId);
      }
      const force = forceAsked && current !== undefined && mayForce(current);
      if (current && !force && isFresh(current, required)) {
        counted("TokensServed", "Source", source, pending.length);
        log.info("token served", { clientId, requestIds: ids(pending), version: current.version, expiresAt: current.token.expiresAt });
        return { events: ready(current), retry: [] };
      }

      const credentials = await readCredentials(clientId);
      let fresh: CachedToken;
      try {
        fresh = await refresh(credentials, timeLeft);
      } catch (error) {
        if (!(error instanceof BrokerError)) throw error;
        if (current && current.expiresAtMs > clock.now()) {
          counted("TokensServed", "Source", "stored-after-newstore-failure", pending.length);
          log.warn("NewStore failed; serving the stored token, which has not expired", {
            clientId,
            requestIds: ids(pending),
            code: error.code,
            reason: error.message,
            expiresAt: current.token.expiresAt,
          });
          return { events: ready(current), retry: [] };
        }
        throw error;
      }
      const reason: RotationReason = force ? "forced" : "requested";
      log.info("token refreshed", { clientId, requestIds: ids(pending), reason, version: fresh.version, expiresAt: fresh.token.expiresAt });
      counted("TokensServed", "Source", "newstore", pending.length);
      return { events: [{ event: rotated(fresh, reason) }, ...ready(fresh)], retry: [] };
    } catch (error) {
      if (error instanceof BrokerError) {
        log.warn("token request failed", { clientId, requestIds: ids(pending), code: error.code, reason: error.message });
        return { events: failed(error), retry: [] };
      }
      // AWS or a bug: hand the messages back to SQS rather than answer wrongly.
      log.error("unexpected error; the requests will be redelivered", { clientId, requestIds: ids(pending), error: errorSummary(error) });
      return { events: [], retry: pending.map((p) => p.messageId) };
    }
  }

  /** The schedule's work: refresh tokens about to expire of clients used within the idle window. */
  async function refreshDue(skip: ReadonlySet<string>, timeLeft: () => number): Promise<Outgoing[]> {
    const out: Outgoing[] = [];
    const candidates = (await usage.active(idleWindowMs)).filter((clientId) => !skip.has(clientId));
    let refreshed = 0;
    for (const clientId of candidates) {
      if (timeLeft() <= 0) {
        log.warn("scheduled refresh ran out of time; the next one continues", { remaining: candidates.length - refreshed });
        break;
      }
      try {
        const current = memory.get(clientId) ?? (await readToken(clientId));
        // No token means the client was never served (or was revoked): nothing to keep warm.
        if (!current || current.expiresAtMs - clock.now() > refreshAheadMs) continue;
        const fresh = await refresh(await readCredentials(clientId), timeLeft);
        refreshed += 1;
        log.info("token refreshed", { clientId, reason: "scheduled", version: fresh.version, expiresAt: fresh.token.expiresAt });
        out.push({ event: rotated(fresh, "scheduled") });
      } catch (error) {
        // Nobody waits on a scheduled refresh: the next tick, or a request, tries again.
        log.warn("scheduled refresh failed", { clientId, error: error instanceof BrokerError ? error.code : errorSummary(error) });
      }
    }
    log.info("scheduled refresh done", { activeClients: candidates.length, refreshed });
    return out;
  }

  /** After a PUT: the token is refreshed with the new credentials now, not when it expires. */
  async function credentialsChanged(clientId: string, timeLeft: () => number): Promise<Outgoing[]> {
    rejections.delete(clientId);
    const current = memory.get(clientId) ?? (await readToken(clientId));
    if (!current) {
      log.info("credentials changed; no token to refresh", { clientId });
      return [];
    }
    try {
      const fresh = await refresh(await readCredentials(clientId), timeLeft);
      log.info("token refreshed", { clientId, reason: "credentials-changed", version: fresh.version, expiresAt: fresh.token.expiresAt });
      return [{ event: rotated(fresh, "credentials-changed") }];
    } catch (error) {
      if (!(error instanceof BrokerError)) throw error;
      // The old token stays valid at NewStore until it expires; requests will retry the new ones.
      log.error("credentials changed but the token could not be refreshed with them", { clientId, code: error.code, reason: error.message });
      return [];
    }
  }

  /** After a DELETE: nothing of the client is left, and consumers are told. */
  async function credentialsDeleted(clientId: string): Promise<Outgoing[]> {
    memory.delete(clientId);
    rejections.delete(clientId);
    usage.forget(clientId);
    const removed = await parameters.delete(tokenParameterName(config.names, clientId));
    await parameters.delete(usageParameterName(config.names, clientId));
    log.info("token revoked", { clientId, tokenRemoved: removed });
    return [{ event: { detailType: DetailType.revoked, detail: { clientId, reason: "credentials-deleted" } } }];
  }

  return {
    memory,
    async handleBatch(messages, { timeLeftMs = () => Number.POSITIVE_INFINITY } = {}) {
      metrics.observe("BatchSize", messages.length, "Count");
      try {
        return await handleBatch(messages, timeLeftMs);
      } finally {
        for (const [key, n] of tally) {
          const [name, dimension, value] = key.split("\u0000") as [string, string, string];
          metrics.count(name, n, { name: dimension, value });
        }
        tally.clear();
      }
    },
  };

  async function handleBatch(messages: QueueMessage[], timeLeftMs: () => number): Promise<BatchResult> {
    const outgoing: Outgoing[] = [];
    const retry = new Set<string>();
    const byClient = new Map<string, Pending[]>();
    const work: Array<{ messageId: string; kind: "credentials-changed" | "credentials-deleted"; clientId: string }> = [];
    let scheduled = false;

    for (const message of messages) {
      const item = parseQueueItem(message.body);
      if (item.kind === "request") {
        const list = byClient.get(item.request.clientId) ?? [];
        list.push({ messageId: message.messageId, request: item.request });
        byClient.set(item.request.clientId, list);
      } else if (item.kind === "refresh-due") {
        scheduled = true; // several in one batch are one piece of work
      } else if (item.kind === "credentials-changed" || item.kind === "credentials-deleted") {
        work.push({ messageId: message.messageId, kind: item.kind, clientId: item.clientId });
      } else if (item.replyTo) {
        log.warn("invalid token request", { messageId: message.messageId, requestId: item.replyTo.requestId, reason: item.reason });
        const { requestId, clientId, requester } = item.replyTo;
        outgoing.push({
          messageId: message.messageId,
          event: failure(requestId, clientId, requester, new BrokerError("INVALID_REQUEST", item.reason, false)),
        });
      } else {
        // Nobody to answer: retrying cannot help, so the message is dropped with a trace.
        log.error("unanswerable message dropped", { messageId: message.messageId, reason: item.reason });
      }
    }

    const outcomes = await Promise.all([...byClient].map(([clientId, pending]) => serveClient(clientId, pending, timeLeftMs)));
    for (const outcome of outcomes) {
      outgoing.push(...outcome.events);
      for (const id of outcome.retry) retry.add(id);
    }
    // Admin work after the requests that came with it, in the order it was sent.
    for (const { messageId, kind, clientId } of work) {
      try {
        const produced = kind === "credentials-changed" ? await credentialsChanged(clientId, timeLeftMs) : await credentialsDeleted(clientId);
        outgoing.push(...produced.map((o) => ({ ...o, messageId })));
      } catch (error) {
        log.error("work item failed; it will be redelivered", { kind, clientId, error: errorSummary(error) });
        retry.add(messageId);
      }
    }
    if (scheduled) outgoing.push(...(await refreshDue(new Set(byClient.keys()), timeLeftMs)));

    if (outgoing.length > 0) {
      const { failed } = await events.publish(outgoing.map((o) => o.event));
      for (const index of failed) {
        const { messageId, event } = outgoing[index]!;
        if (messageId) retry.add(messageId);
        else log.error("event could not be published", { detailType: event.detailType, clientId: event.detail.clientId });
      }
    }
    return { failedMessageIds: fifoFailures(messages.map((m) => m.messageId), retry) };
  }
}

const ids = (pending: Pending[]) => pending.map((p) => p.request.requestId);

function rotated(cached: CachedToken, reason: RotationReason): BrokerEvent {
  return {
    detailType: DetailType.rotated,
    detail: {
      clientId: cached.token.clientId,
      parameterName: cached.parameterName,
      parameterVersion: cached.version,
      expiresAt: cached.token.expiresAt,
      reason,
    },
  };
}

function failure(requestId: string, clientId: string, requester: string, error: BrokerError): BrokerEvent {
  return {
    detailType: DetailType.failed,
    detail: { requestId, clientId, requester, code: error.code, message: error.message, retryable: error.retryable },
  };
}

function toCached(parameterName: string, version: number, token: StoredToken): CachedToken {
  return { parameterName, version, token, issuedAtMs: Date.parse(token.issuedAt), expiresAtMs: Date.parse(token.expiresAt) };
}

function errorSummary(error: unknown): string {
  if (error instanceof Error) return sanitize(`${error.name}: ${error.message}`, [], 300);
  return "non-Error thrown";
}
