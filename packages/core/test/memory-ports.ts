// In-memory ports for unit tests of the pure broker logic (never for integration tests).
import { randomUUID } from "node:crypto";
import { BrokerError, NewStoreError } from "../src/errors.js";
import { type Clock, type EventPublisher, type IssuedToken, type Logger, ParameterExistsError, type ParameterStore, type TokenIssuer, type WorkQueue } from "../src/ports.js";
import type { BrokerEvent, Credentials } from "../src/schemas.js";
import { DetailType } from "../src/settings.js";

export class FakeClock implements Clock {
  constructor(public ms = Date.parse("2026-12-04T12:00:00.000Z")) {}
  now = () => this.ms;
  advance(seconds: number) {
    this.ms += seconds * 1000;
  }
}

export class MemoryParameters implements ParameterStore {
  readonly values = new Map<string, { value: string; version: number }>();
  gets = 0;
  puts = 0;
  failNextGet?: Error;
  async get(name: string) {
    this.gets += 1;
    if (this.failNextGet) {
      const error = this.failNextGet;
      this.failNextGet = undefined;
      throw error;
    }
    return this.values.get(name);
  }
  async getMany(names: string[]) {
    this.gets += 1;
    return new Map(names.filter((n) => this.values.has(n)).map((n) => [n, this.values.get(n)!]));
  }
  async getByPath(path: string) {
    this.gets += 1;
    return [...this.values]
      .filter(([name]) => name.startsWith(`${path}/`) && !name.slice(path.length + 1).includes("/"))
      .map(([name, v]) => ({ name, ...v }));
  }
  async getPage(path: string, { limit, nextToken }: { limit: number; nextToken?: string }) {
    const all = (await this.getByPath(path)).sort((a, b) => a.name.localeCompare(b.name));
    const start = nextToken ? Number(nextToken) : 0;
    const items = all.slice(start, start + limit);
    return { items, nextToken: start + limit < all.length ? String(start + limit) : undefined };
  }
  async delete(name: string) {
    return this.values.delete(name);
  }
  /** Writes of token parameters (usage records are counted apart). */
  get tokenPuts() {
    return this.putNames.filter((n) => n.includes("/tokens/")).length;
  }
  readonly putNames: string[] = [];
  async put(name: string, value: string, { create = false }: { plain?: boolean; create?: boolean } = {}) {
    if (create && this.values.has(name)) throw new ParameterExistsError(name);
    this.puts += 1;
    this.putNames.push(name);
    const version = (this.values.get(name)?.version ?? 0) + 1;
    this.values.set(name, { value, version });
    return { version };
  }
}

type DetailOf<T extends BrokerEvent["detailType"]> = Extract<BrokerEvent, { detailType: T }>["detail"];

export class RecordingPublisher implements EventPublisher {
  readonly published: BrokerEvent[] = [];
  /** Indexes (within the next publish call) to report as failed. */
  failIndexes: number[] = [];
  async publish(events: BrokerEvent[]) {
    const failed = this.failIndexes;
    this.failIndexes = [];
    events.forEach((e, i) => {
      if (!failed.includes(i)) this.published.push(e);
    });
    return { failed };
  }
  of<T extends BrokerEvent["detailType"]>(type: T): DetailOf<T>[] {
    return this.published.filter((e) => e.detailType === type).map((e) => e.detail as DetailOf<T>);
  }
}

export class ScriptedIssuer implements TokenIssuer {
  calls: Credentials[] = [];
  /** Errors to throw on the next calls, in order; then tokens are issued. */
  script: Array<Error> = [];
  ttlSeconds = 3600;
  issued: string[] = [];
  async issue(credentials: Credentials): Promise<IssuedToken> {
    this.calls.push(credentials);
    const next = this.script.shift();
    if (next) throw next;
    const accessToken = `tok-${randomUUID()}`;
    this.issued.push(accessToken);
    return { accessToken, tokenType: "Bearer", scope: credentials.roles.join(" "), expiresInSeconds: this.ttlSeconds };
  }
}

export class CapturingLogger implements Logger {
  readonly lines: Array<{ level: string; message: string; attributes?: Record<string, unknown> }> = [];
  debug = (message: string, attributes?: Record<string, unknown>) => void this.lines.push({ level: "debug", message, attributes });
  info = (message: string, attributes?: Record<string, unknown>) => void this.lines.push({ level: "info", message, attributes });
  warn = (message: string, attributes?: Record<string, unknown>) => void this.lines.push({ level: "warn", message, attributes });
  error = (message: string, attributes?: Record<string, unknown>) => void this.lines.push({ level: "error", message, attributes });
}

export const rejected = () => new NewStoreError("NEWSTORE_REJECTED", "NewStore rejected client c: invalid_client", 1, 401);
export const unavailable = () => new NewStoreError("NEWSTORE_UNAVAILABLE", "NewStore unavailable for client c", 3, 503);
export { BrokerError };

export function credentials(clientId: string, now: number, overrides: Partial<Credentials> = {}): Credentials {
  const at = new Date(now).toISOString();
  return { clientId, clientSecret: `secret-of-${clientId}-${randomUUID()}`, tenant: "acme-sandbox", roles: ["iam:providers:read"], createdAt: at, updatedAt: at, ...overrides };
}

/** A queue message as EventBridge delivers `token.requested` to SQS. */
export function requestMessage(detail: Record<string, unknown>, detailType: string = DetailType.requested) {
  const envelope = {
    version: "0",
    id: randomUUID(),
    "detail-type": detailType,
    source: "test.consumer",
    account: "123456789012",
    time: new Date().toISOString(),
    region: "us-east-1",
    resources: [],
    detail,
  };
  return { messageId: randomUUID(), body: JSON.stringify(envelope) };
}

export class MemoryWorkQueue implements WorkQueue {
  readonly items: object[] = [];
  failNext = false;
  async send(item: object) {
    if (this.failNext) {
      this.failNext = false;
      throw Object.assign(new Error("queue unavailable"), { name: "ServiceUnavailable" });
    }
    this.items.push(item);
  }
  /** The items as queue messages, for the broker's handleBatch. */
  drain() {
    return this.items.splice(0).map((item, i) => ({ messageId: `work-${i}-${Date.now()}`, body: JSON.stringify(item) }));
  }
}

/** A fresh set of in-memory ports: a new world for each test. */
export function freshPorts() {
  return {
    clock: new FakeClock(),
    parameters: new MemoryParameters(),
    events: new RecordingPublisher(),
    newstore: new ScriptedIssuer(),
    log: new CapturingLogger(),
  };
}
