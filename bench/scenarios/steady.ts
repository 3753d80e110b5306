// steady: containers invoked at a steady rate over simulated hours on a fake clock shared by the
// containers, the SDK and the broker; containers recycled now and then; for the broker, the
// refresh schedule's token.refresh-due on its queue every 5 minutes.
import { performance } from "node:perf_hooks";
import { brokerDefaults, consumerDefaults, refreshSchedule } from "@newstore-auth/core";
import { FakeClock } from "../../packages/core/test/memory-ports.js";
import type { BenchConfig } from "../config.js";
import { type Container, createStrategy, type Path, type StrategyName } from "../strategies/index.js";
import { perMillion, round } from "../stats.js";
import type { World } from "../world.js";

export interface SteadyRow {
  strategy: StrategyName;
  containers: number;
  hours: number;
  invocations: number;
  failed: number;
  recycles: number;
  paths: Record<Path, number>;
  newstoreCalls: number;
  ssmReads: number;
  ssmReadsByConsumers: number;
  ssmWrites: number;
  tokenWrites: number;
  putEvents: number;
  putEventsByConsumers: number;
  perMillion: { newstore: number; ssmReads: number; ssmWrites: number; putEvents: number };
  /** Invocations that waited on a refresh: on NewStore itself (direct, shared-ssm) or on the broker. */
  waitedOnRefresh: number;
  waitedAfterFirstToken: number;
  /** Tokens handed out with less than the 300 s margin left (none should be). */
  servedInsideMargin: number;
  /** Every call by party and operation, SQS included (the SDK's reply polling, the poller, the schedule). */
  calls: Record<string, Record<string, number>>;
  realSeconds: number;
  broker?: BrokerSteady;
}

export interface BrokerSteady {
  /** 1 + the scheduled refreshes the settings call for over the horizon. */
  expectedRotations: number;
  /** SSM reads of the very first invocation (a miss: read, token.ready's version, any re-reads). */
  firstInvocationSsmReads: number;
  /**
   * Consumer SSM reads may not exceed containers × rotations + recycles + (firstInvocationSsmReads − 1):
   * per container slot, one read per container instance (its cold start) plus one per rotation
   * after the first token (SSM already holds the new token when the cached one reaches the margin).
   */
  consumerReadBound: number;
  /** Reads caused by rotations (cold starts taken out) per container per rotation after the first token. */
  readsPerContainerPerRotation: number;
}

const CLIENT = "steady-client";

export function expectedRotations(horizonSeconds: number, ttlSeconds: number): number {
  const every = refreshSchedule.everyMinutes * 60;
  let expiresAt = ttlSeconds;
  let rotations = 1;
  for (let t = every; t <= horizonSeconds; t += every) {
    if (expiresAt - t <= brokerDefaults.refreshAheadSeconds) {
      expiresAt = t + ttlSeconds;
      rotations += 1;
    }
  }
  return rotations;
}

export async function runSteady(world: World, config: BenchConfig["steady"], name: StrategyName, progress: (line: string) => void): Promise<SteadyRow> {
  const { containers: count, hours, ratePerSecond, recycleEverySeconds, ttlSeconds } = config;
  const horizon = hours * 3600;
  const marginMs = consumerDefaults.minValiditySeconds * 1000;
  const provisioned = await world.fresh();
  const credentials = await world.register(CLIENT, ttlSeconds);
  const clock = new FakeClock(Math.floor(Date.now() / 1000) * 1000);
  const strategy = createStrategy(name, { world, provisioned, clock, credentials: new Map([[CLIENT, credentials]]) });
  const containers: Container[] = Array.from({ length: count }, () => strategy.container());
  world.meter.reset();
  const started = performance.now();

  const paths: Record<Path, number> = { memory: 0, ssm: 0, newstore: 0, broker: 0 };
  let invocations = 0;
  let failed = 0;
  let insideMargin = 0;
  let firstError: string | undefined;
  const invoke = async (container: Container) => {
    try {
      const got = await container.getToken(CLIENT);
      invocations += 1;
      paths[got.path] += 1;
      if (got.expiresAtMs - clock.now() < marginMs) insideMargin += 1;
    } catch (error) {
      failed += 1;
      firstError ??= (error as Error).message;
    }
  };

  await invoke(containers[0]!); // the first token, alone
  const firstReads = world.meter.summary("consumers").ssmReads;
  let next = 1;
  let recycles = 0;
  for (let s = 1; s <= horizon; s += 1) {
    clock.advance(1);
    await strategy.tick?.(clock.now(), s);
    if (s % recycleEverySeconds === 0) {
      const slot = recycles % count;
      containers[slot]!.destroy();
      containers[slot] = strategy.container();
      recycles += 1;
    }
    const batch: Array<Promise<void>> = [];
    for (let k = 0; k < ratePerSecond; k += 1) batch.push(invoke(containers[next++ % count]!));
    await Promise.all(batch);
  }

  const all = world.meter.summary("consumers", "broker");
  const consumers = world.meter.summary("consumers");
  const parties = ["consumers", "broker", "poller", "schedule"] as const;
  const calls = Object.fromEntries(parties.map((p) => [p, world.meter.summary(p).byOperation]));
  const newstoreCalls = world.sandbox.calls(CLIENT);
  await strategy.stop();
  containers.forEach((c) => c.destroy());

  const waited = paths.newstore + paths.broker;
  const row: SteadyRow = {
    strategy: name,
    containers: count,
    hours,
    invocations,
    failed,
    recycles,
    paths,
    newstoreCalls,
    ssmReads: all.ssmReads,
    ssmReadsByConsumers: consumers.ssmReads,
    ssmWrites: all.ssmWrites,
    tokenWrites: await world.tokenVersion(CLIENT),
    putEvents: all.putEvents,
    putEventsByConsumers: consumers.putEvents,
    perMillion: {
      newstore: perMillion(newstoreCalls, invocations),
      ssmReads: perMillion(all.ssmReads, invocations),
      ssmWrites: perMillion(all.ssmWrites, invocations),
      putEvents: perMillion(all.putEvents, invocations),
    },
    waitedOnRefresh: waited,
    waitedAfterFirstToken: Math.max(0, waited - 1),
    servedInsideMargin: insideMargin,
    calls,
    realSeconds: round((performance.now() - started) / 1000, 1),
  };
  if (name === "broker") {
    const rotations = newstoreCalls;
    const coldReads = count - 1 + recycles + firstReads;
    row.broker = {
      expectedRotations: expectedRotations(horizon, ttlSeconds),
      firstInvocationSsmReads: firstReads,
      consumerReadBound: count * rotations + recycles + (firstReads - 1),
      readsPerContainerPerRotation: rotations > 1 ? round((consumers.ssmReads - coldReads) / (count * (rotations - 1))) : 0,
    };
  }
  progress(
    `steady ${name}: ${invocations} invocations, ${newstoreCalls} NewStore, ${all.ssmReads} SSM reads, ${all.ssmWrites} SSM writes, ` +
      `${all.putEvents} PutEvents, ${waited} waited on a refresh${failed ? `, ${failed} failed (${firstError})` : ""} (${row.realSeconds} s)`,
  );
  return row;
}
