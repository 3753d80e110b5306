// herd: N cold containers ask for one client's token at the same moment.
import { performance } from "node:perf_hooks";
import { systemClock } from "@newstore-auth/core";
import { type Container, createStrategy, type StrategyName } from "../strategies/index.js";
import { round } from "../stats.js";
import type { World } from "../world.js";

export interface HerdRow {
  strategy: StrategyName;
  n: number;
  newstoreCalls: number;
  ssmReads: number;
  /** PutParameter calls in all (the broker's include its usage record). */
  ssmWrites: number;
  /** Versions of tokens/{clientId}: how often the shared token was written. */
  tokenWrites: number;
  putEvents: number;
  sqsCalls: number;
  /** Containers holding a token / containers that failed. */
  served: number;
  failed: number;
  distinctTokens: number;
  /** Real time from the start until the last container had its token. */
  lastTokenMs: number;
  medianTokenMs: number;
  /** Broker only: token.requested published, and of those the broker had handled when the last container had its token. */
  requestsPublished?: number;
  requestsHandled?: number;
  /** Broker only: the SDK's re-reads of SSM while waiting (a sibling may have taken the reply). */
  rereads?: number;
}

const CLIENT = "herd-client";

export async function runHerd(world: World, sizes: readonly number[], strategies: readonly StrategyName[], progress: (line: string) => void): Promise<HerdRow[]> {
  const rows: HerdRow[] = [];
  for (const n of sizes) {
    for (const name of strategies) {
      const provisioned = await world.fresh();
      const credentials = await world.register(CLIENT);
      const strategy = createStrategy(name, { world, provisioned, clock: systemClock, credentials: new Map([[CLIENT, credentials]]) });
      const containers: Container[] = Array.from({ length: n }, () => strategy.container());
      world.meter.reset();
      const started = performance.now();
      const outcomes = await Promise.all(
        containers.map((c) =>
          c.getToken(CLIENT).then(
            (got) => ({ got, ms: performance.now() - started }),
            (error: Error) => ({ error, ms: performance.now() - started }),
          ),
        ),
      );
      const calls = world.meter.summary("consumers", "broker");
      const consumers = world.meter.summary("consumers");
      const handled = strategy.broker?.poller.stats.messages;
      const newstoreCalls = world.sandbox.calls(CLIENT);
      const rereads = containers.reduce((sum, c) => sum + (c.rereads?.() ?? 0), 0);
      await strategy.stop();
      containers.forEach((c) => c.destroy());

      const served = outcomes.flatMap((o) => ("got" in o ? [o] : []));
      const failures = outcomes.flatMap((o) => ("error" in o ? [o.error.message] : []));
      const times = outcomes.map((o) => o.ms).sort((a, b) => a - b);
      const row: HerdRow = {
        strategy: name,
        n,
        newstoreCalls,
        ssmReads: calls.ssmReads,
        ssmWrites: calls.ssmWrites,
        tokenWrites: await world.tokenVersion(CLIENT),
        putEvents: calls.putEvents,
        sqsCalls: calls.sqsCalls,
        served: served.length,
        failed: failures.length,
        distinctTokens: new Set(served.map((o) => o.got.accessToken)).size,
        lastTokenMs: round(times.at(-1) ?? 0, 1),
        medianTokenMs: round(times[Math.floor(times.length / 2)] ?? 0, 1),
        ...(name === "broker" ? { requestsPublished: consumers.putEvents, requestsHandled: handled, rereads } : {}),
      };
      rows.push(row);
      progress(
        `herd N=${n} ${name}: ${row.newstoreCalls} NewStore, ${row.ssmReads} SSM reads, ${row.ssmWrites} SSM writes, ` +
          `${row.putEvents} PutEvents, last token after ${row.lastTokenMs} ms${failures.length ? `, ${failures.length} failed (${failures[0]})` : ""}`,
      );
    }
  }
  return rows;
}
