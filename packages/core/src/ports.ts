// The outside world as the broker logic sees it. Adapters for AWS and NewStore implement these;
// unit tests pass in-memory ones.
import type { BrokerEvent, Credentials } from "./schemas.js";

export interface StoredParameter {
  value: string;
  version: number;
}

export interface ParameterStore {
  /** The decrypted value, or undefined when the parameter does not exist. */
  get(name: string): Promise<StoredParameter | undefined>;
  /** Every parameter below a path (one level), decrypted. */
  getByPath(path: string): Promise<Array<StoredParameter & { name: string }>>;
  /** Writes, overwriting: a SecureString unless `plain`; returns the new version. */
  put(name: string, value: string, options?: { plain?: boolean }): Promise<{ version: number }>;
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

export const systemClock: Clock = { now: () => Date.now() };

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
