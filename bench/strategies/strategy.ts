// The one consumer interface the scenarios drive: a simulated container (a Lambda's warm process)
// asks getToken(clientId); each strategy answers it its own way.
import type { Clock, Credentials } from "@newstore-auth/core";
import type { BrokerDeployment, Provisioned, World } from "../world.js";

export const STRATEGIES = ["direct", "shared-ssm", "broker"] as const;
export type StrategyName = (typeof STRATEGIES)[number];

/** Where a token came from: the container's memory, SSM, NewStore itself, or the broker (waited on it). */
export type Path = "memory" | "ssm" | "newstore" | "broker";

export interface Got {
  accessToken: string;
  expiresAtMs: number;
  path: Path;
}

export interface Container {
  getToken(clientId: string): Promise<Got>;
  /** The strategy's own getToken, without the benchmark's bookkeeping (for latency). */
  raw(clientId: string): Promise<unknown>;
  /** The SDK's re-reads of SSM while it waited on the broker (broker only). */
  rereads?(): number;
  /** Recycled: its memory and connections are gone. */
  destroy(): void;
}

export interface StrategyContext {
  world: World;
  provisioned: Provisioned;
  /** Shared by the containers, the broker and the SDK. */
  clock: Clock;
  /** What direct and shared-ssm containers hold to call NewStore themselves. */
  credentials: ReadonlyMap<string, Credentials>;
}

export interface Strategy {
  name: StrategyName;
  container(): Container;
  /** Called at every simulated second of the steady scenario (the broker's refresh schedule). */
  tick?(now: number, elapsedSeconds: number): Promise<void>;
  /** The broker strategy's deployment (poller, handler). */
  broker?: BrokerDeployment;
  stop(): Promise<void>;
}

export function credentialsOf(context: StrategyContext, clientId: string): Credentials {
  const credentials = context.credentials.get(clientId);
  if (!credentials) throw new Error(`no credentials for ${clientId}`);
  return credentials;
}
