// The outside world as the broker logic sees it. Adapters for AWS and NewStore implement these;
// unit tests pass in-memory ones.
import type { BrokerEvent, Credentials } from "./schemas.js";

export interface StoredParameter {
  value: string;
  version: number;
}

export type NamedParameter = StoredParameter & { name: string };

export interface ParameterStore {
  /** The decrypted value, or undefined when the parameter does not exist. */
  get(name: string): Promise<StoredParameter | undefined>;
  /** Several at once (one call per 10 names); missing ones are absent from the result. */
  getMany(names: string[]): Promise<Map<string, StoredParameter>>;
  /** Every parameter below a path (one level), decrypted. */
  getByPath(path: string): Promise<NamedParameter[]>;
  /** One page below a path, in SSM's order. */
  getPage(path: string, page: { limit: number; nextToken?: string }): Promise<{ items: NamedParameter[]; nextToken?: string }>;
  /**
   * Writes a SecureString (a plain String with `plain`); returns the new version. With `create`
   * it fails with ParameterExistsError instead of overwriting.
   */
  put(name: string, value: string, options?: { plain?: boolean; create?: boolean }): Promise<{ version: number }>;
  /** Removes it; false when there was nothing to remove. */
  delete(name: string): Promise<boolean>;
}

export class ParameterExistsError extends Error {
  constructor(readonly parameterName: string) {
    super(`${parameterName} exists already`);
    this.name = "ParameterExistsError";
  }
}

/** The broker's own queue, for work that is not a consumer's request (admin API, schedule). */
export interface WorkQueue {
  send(item: object): Promise<void>;
}

export interface EventPublisher {
  /** Publishes all events; resolves with the indexes of those that still failed after retries. */
  publish(events: BrokerEvent[]): Promise<{ failed: number[] }>;
}

export interface IssuedToken {
  accessToken: string;
  tokenType: string;
  scope: string;
  expiresInSeconds: number;
}

export interface TokenIssuer {
  /** Calls NewStore; throws NewStoreError. `timeLeftMs` bounds all retries, with the budget. */
  issue(credentials: Credentials, options?: { timeLeftMs?: number }): Promise<IssuedToken>;
}

export interface Clock {
  now(): number;
}

export type LogAttributes = Record<string, unknown>;

export interface Logger {
  debug(message: string, attributes?: LogAttributes): void;
  info(message: string, attributes?: LogAttributes): void;
  warn(message: string, attributes?: LogAttributes): void;
  error(message: string, attributes?: LogAttributes): void;
}

/** What the broker measures; the Lambda publishes it as CloudWatch EMF. */
export interface Metrics {
  /** Counts under `name`, split by one dimension (e.g. Outcome=ok). */
  count(name: string, value: number, dimension?: { name: string; value: string }): void;
  /** One observed value (a batch size, a token's age). */
  observe(name: string, value: number, unit: "Count" | "Seconds" | "Milliseconds"): void;
}

export const noMetrics: Metrics = { count() {}, observe() {} };

export const systemClock: Clock = { now: () => Date.now() };

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
