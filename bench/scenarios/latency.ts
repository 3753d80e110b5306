// latency: getToken on the warm path (in process), the SSM path (a new container, SSM fresh) and the
// miss path (a warm container whose token went stale, NewStore answering in 50 ms), each against
// one direct NewStore call.
import { performance } from "node:perf_hooks";
import { createNewStoreClient } from "@newstore-auth/core";
import { FakeClock } from "../../packages/core/test/memory-ports.js";
import type { BenchConfig } from "../config.js";
import { createStrategy, STRATEGIES, type StrategyName } from "../strategies/index.js";
import { round, type Summary, summarize } from "../stats.js";
import type { World } from "../world.js";

export type LatencyPath = "warm" | "ssm" | "miss" | "miss-new-container";

export interface LatencyRow {
  strategy: StrategyName;
  path: LatencyPath;
  /** Milliseconds, except the warm path's in microseconds. */
  unit: "us" | "ms";
  summary: Summary;
  /** p50 of the path over p50 of one direct NewStore call answering in `newstoreDelayMs`. */
  ratioToDirectCall: number;
}

export interface LatencyResult {
  newstoreDelayMs: number;
  /** One direct NewStore call (createNewStoreClient → sandbox) answering in newstoreDelayMs, in ms. */
  directCall: Summary;
  /** The same call with the sandbox answering at once, in ms. */
  directCallNoDelay: Summary;
  rows: LatencyRow[];
}

const CLIENT = "latency-client";

export async function runLatency(world: World, config: BenchConfig["latency"], progress: (line: string) => void): Promise<LatencyResult> {
  const { newstoreDelayMs } = config;
  const slow = () => world.sandbox.fault({ fault: { delayMs: newstoreDelayMs }, clientId: CLIENT, times: Number.POSITIVE_INFINITY });

  await world.fresh();
  const credentials = await world.register(CLIENT);
  const newstore = createNewStoreClient({ tokenUrlTemplate: world.sandbox.tokenUrlTemplate });
  const call = () => newstore.issue(credentials);
  await timeEach(call, 5); // connections, JIT
  const directCallNoDelay = summarize(await timeEach(call, config.baselineIterations));
  slow();
  const directCall = summarize(await timeEach(call, config.baselineIterations));
  world.sandbox.clearFaults();
  progress(`latency: one direct NewStore call p50 ${directCall.p50} ms at ${newstoreDelayMs} ms, ${directCallNoDelay.p50} ms at once`);

  const rows: LatencyRow[] = [];
  const add = (strategy: StrategyName, path: LatencyPath, unit: "us" | "ms", samplesMs: number[]) => {
    const summary = summarize(samplesMs, unit === "us" ? 1000 : 1);
    const ratio = summary.p50 / (unit === "us" ? 1000 : 1) / directCall.p50;
    rows.push({ strategy, path, unit, summary, ratioToDirectCall: Number(ratio.toPrecision(3)) });
    progress(`latency ${strategy} ${path}: p50 ${summary.p50} ${unit}, p99 ${summary.p99} ${unit}`);
  };

  for (const name of STRATEGIES) {
    const provisioned = await world.fresh();
    const registered = await world.register(CLIENT);
    const clock = new FakeClock(Math.floor(Date.now() / 1000) * 1000);
    const strategy = createStrategy(name, { world, provisioned, clock, credentials: new Map([[CLIENT, registered]]) });
    const warm = strategy.container();
    await warm.raw(CLIENT); // the first token
    add(name, "warm", "us", await warmPath(() => warm.raw(CLIENT), config.warmIterations));

    if (name !== "direct") {
      add(name, "ssm", "ms", await coldContainers(strategy, config.ssmIterations, () => {}));
    }
    slow();
    // A warm container whose token went stale: the clock a TTL later, its memory and SSM both stale.
    add(name, "miss", "ms", await timeEach(() => warm.raw(CLIENT), config.missIterations, () => clock.advance(3600)));
    if (name === "broker") {
      // The same in a new container started right after another one got its token: the finished
      // container's long poll of the shared reply queue is still open and may take the reply.
      add(name, "miss-new-container", "ms", await coldContainers(strategy, config.missIterations, () => clock.advance(3600)));
    }
    world.sandbox.clearFaults();
    warm.destroy();
    await strategy.stop();
  }
  return { newstoreDelayMs, directCall, directCallNoDelay, rows };
}

/** Milliseconds per call, one call at a time. */
async function timeEach(run: () => Promise<unknown>, iterations: number, before: () => void = () => {}): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < iterations; i += 1) {
    before();
    const started = performance.now();
    await run();
    samples.push(performance.now() - started);
  }
  return samples;
}

/** The warm path: many awaited calls, each timed with process.hrtime.bigint(); in ms. */
async function warmPath(run: () => Promise<unknown>, iterations: number): Promise<number[]> {
  for (let i = 0; i < Math.min(20_000, iterations); i += 1) await run(); // JIT
  const samples = new Float64Array(iterations);
  for (let i = 0; i < iterations; i += 1) {
    const started = process.hrtime.bigint();
    await run();
    samples[i] = Number(process.hrtime.bigint() - started) / 1e6;
  }
  return Array.from(samples);
}

async function coldContainers(strategy: ReturnType<typeof createStrategy>, iterations: number, before: () => void): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < iterations; i += 1) {
    before();
    const container = strategy.container();
    const started = performance.now();
    await container.raw(CLIENT);
    samples.push(performance.now() - started);
    container.destroy();
  }
  return samples.map((ms) => round(ms, 3));
}
