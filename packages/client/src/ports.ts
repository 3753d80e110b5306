// What the token client needs from AWS, as ports: the SDK adapters in aws.ts implement them for
// real, unit tests pass in-memory ones.
import type { TokenRequested } from "@newstore-auth/core/schemas";

export interface Reply {
  /** The EventBridge envelope as delivered to the reply queue. */
  envelope: unknown;
  /** Removes it from the queue. */
  ack(): Promise<void>;
}

export interface ConsumerPorts {
  /** GetParameter WithDecryption; `name` may carry `:version`. Undefined when missing. */
  readParameter(name: string): Promise<{ value: string; version: number } | undefined>;
  publishRequest(detail: TokenRequested): Promise<void>;
  /** One long poll of the reply queue. */
  receiveReplies(waitSeconds: number): Promise<Reply[]>;
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}
