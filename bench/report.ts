// results.json's shape, the targets of issue 6, and the Markdown report.
import type { BenchConfig } from "./config.js";
import type { HerdRow } from "./scenarios/herd.js";
import type { LatencyResult } from "./scenarios/latency.js";
import type { SteadyRow } from "./scenarios/steady.js";
import type { MemoryThroughput, MotoThroughput } from "./scenarios/throughput.js";

export interface Machine {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  platform: string;
  moto: string;
  /** 1, 5 and 15 min load averages at the end of the run, and the 1 min one at its start (other work on the machine skews times). */
  loadAverage: number[];
  loadAverageAtStart: number;
}

export interface Target {
  name: string;
  target: string;
  measured: string;
  met: boolean;
}

export interface Results {
  date: string;
  mode: BenchConfig["mode"];
  machine: Machine;
  config: BenchConfig;
  herd: HerdRow[];
  steady: SteadyRow[];
  latency: LatencyResult;
  throughput: { memory: MemoryThroughput; moto: MotoThroughput };
  targets: Target[];
  realSeconds: number;
}

export function evaluateTargets(r: Omit<Results, "targets">): Target[] {
  const targets: Target[] = [];
  const brokerHerd = r.herd.filter((h) => h.strategy === "broker");
  const largest = brokerHerd.reduce<HerdRow | undefined>((a, h) => (!a || h.n > a.n ? h : a), undefined);
  if (largest) {
    targets.push({
      name: `herd: broker NewStore calls at N = ${largest.n}`,
      target: "exactly 1",
      measured: `${largest.newstoreCalls} (every N: ${brokerHerd.map((h) => h.newstoreCalls).join(", ")})`,
      met: brokerHerd.every((h) => h.newstoreCalls === 1 && h.failed === 0),
    });
  }
  const steady = r.steady.find((s) => s.strategy === "broker");
  if (steady?.broker) {
    const b = steady.broker;
    targets.push({
      name: "steady: broker SSM reads per container per rotation",
      target: "≤ 1",
      measured: `${b.readsPerContainerPerRotation} (consumer reads ${steady.ssmReadsByConsumers} ≤ bound ${b.consumerReadBound})`,
      met: b.readsPerContainerPerRotation <= 1 && steady.ssmReadsByConsumers <= b.consumerReadBound,
    });
    targets.push({
      name: "steady: broker invocations waiting on NewStore after the first token",
      target: "0",
      measured: String(steady.waitedAfterFirstToken),
      met: steady.waitedAfterFirstToken === 0 && steady.failed === 0,
    });
    targets.push({
      name: "steady: broker NewStore calls = rotations needed",
      target: String(b.expectedRotations),
      measured: String(steady.newstoreCalls),
      met: steady.newstoreCalls === b.expectedRotations,
    });
  }
  const warm = r.latency.rows.find((row) => row.strategy === "broker" && row.path === "warm");
  if (warm) {
    targets.push({ name: "warm getToken p99 (SDK, in process)", target: "≤ 5 µs", measured: `${warm.summary.p99} µs`, met: warm.summary.p99 <= 5 });
  }
  targets.push({
    name: "broker logic, in-memory ports, one core",
    target: "≥ 50,000 requests/s",
    measured: `${fmt(r.throughput.memory.requestsPerSecond)} requests/s`,
    met: r.throughput.memory.requestsPerSecond >= 50_000,
  });
  return targets;
}

export function markdown(r: Results): string {
  const lines: string[] = [];
  const m = r.machine;
  const s = r.config.steady;
  lines.push(`## newstore-auth benchmark (${r.mode} run, ${r.date})`);
  lines.push("");
  lines.push(`Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB; Node ${m.node} (${m.platform}); moto ${m.moto}; load average ${m.loadAverageAtStart} at the start, ${m.loadAverage[0]} at the end. Run took ${Math.round(r.realSeconds)} s.`);
  lines.push("All three strategies ran on the same moto server and NewStore sandbox. moto is far slower than AWS: times that include it are not AWS times; the counts are.");
  lines.push("");

  lines.push("### Herd: N cold containers ask for one client's token at the same moment");
  lines.push("");
  lines.push(table(
    ["N", "strategy", "NewStore calls", "SSM reads", "SSM writes", "PutEvents", "last container has a token (ms)"],
    r.herd.map((h) => [fmt(h.n), h.strategy, fmt(h.newstoreCalls), fmt(h.ssmReads), fmt(h.ssmWrites), fmt(h.putEvents), `${fmt(h.lastTokenMs)}${h.failed ? ` (${h.failed} failed)` : ""}`]),
  ));
  lines.push("");
  lines.push(
    "Broker: SSM writes are its token and its usage record; PutEvents are the containers' token.requested and the broker's answers sent by then. " +
      "Its SSM reads include the SDK's re-reads while waiting (after 1.5 s, 3 s, then every 4 s: a sibling may have taken the reply off the shared reply queue), " +
      "so they grow with moto's slowness, as does its time; on moto, EventBridge to SQS delivery is the bottleneck (see throughput).",
  );
  lines.push("");

  lines.push(`### Steady: ${s.containers} containers, ${s.hours} simulated hours, ${s.ratePerSecond} invocations/s, TTL ${s.ttlSeconds} s, margin 300 s, a container recycled every ${s.recycleEverySeconds / 60} min`);
  lines.push("");
  lines.push(table(
    ["strategy", "invocations", "NewStore calls", "SSM reads", "SSM writes", "PutEvents", "NewStore /1M", "SSM reads /1M", "SSM writes /1M", "PutEvents /1M", "waited on a refresh"],
    r.steady.map((row) => [
      row.strategy,
      fmt(row.invocations),
      fmt(row.newstoreCalls),
      fmt(row.ssmReads),
      fmt(row.ssmWrites),
      fmt(row.putEvents),
      fmt(row.perMillion.newstore),
      fmt(row.perMillion.ssmReads),
      fmt(row.perMillion.ssmWrites),
      fmt(row.perMillion.putEvents),
      `${fmt(row.waitedOnRefresh)}${row.failed ? ` (${row.failed} failed)` : ""}`,
    ]),
  ));
  lines.push("");
  lines.push("Counts are of the whole system (containers and broker). Every strategy keeps the token in the container's memory until it is within 300 s of expiry; shared-ssm reading SSM on every invocation instead would make 1,000,000 SSM reads per 1M. The broker's refresh schedule (token.refresh-due every 5 min) is on its queue.");
  lines.push("");

  const l = r.latency;
  lines.push(`### Latency of getToken (one direct NewStore call, sandbox answering in ${l.newstoreDelayMs} ms: p50 ${l.directCall.p50} ms; at once: ${l.directCallNoDelay.p50} ms)`);
  lines.push("");
  lines.push(table(
    ["strategy", "path", "p50", "p99", "p50 / one direct NewStore call"],
    l.rows.map((row) => [row.strategy, pathName(row.path), `${row.summary.p50} ${unit(row.unit)}`, `${row.summary.p99} ${unit(row.unit)}`, ratio(row.ratioToDirectCall)]),
  ));
  lines.push("");
  lines.push(
    "warm: the token in the container's memory (in process, hrtime per call). SSM: a new container, the token fresh in SSM (moto). " +
      "miss: a warm container whose token went stale (the clock a TTL later), NewStore answering in 50 ms; the broker's miss goes through " +
      "EventBridge, SQS FIFO and the handler on moto. miss in a new container after a sibling: the container before it finished with a long " +
      "poll of the shared reply queue still open, which can take the reply; the SDK then finds the token by re-reading SSM after 1.5 s.",
  );
  lines.push("");

  const t = r.throughput;
  lines.push("### Broker throughput");
  lines.push("");
  lines.push(table(
    ["where", "requests", "requests/s", "notes"],
    [
      ["createBroker, in-memory ports", fmt(t.memory.requests), fmt(t.memory.requestsPerSecond), `batches of ${t.memory.batchSize} over ${t.memory.clients} clients, memory warm (${t.memory.newstoreCallsWhileTimed} NewStore calls), CPU/wall ${t.memory.cpuPerWall}`],
      ["real handler behind the poller on moto", fmt(t.moto.requests), fmt(t.moto.requestsPerSecond), `preloaded FIFO queue, ${t.moto.clients} clients warm; ${fmt(t.moto.handlerRequestsPerSecond)} requests/s of time inside the handler`],
    ],
  ));
  lines.push("");

  lines.push("### Targets (issue 6)");
  lines.push("");
  lines.push(table(["target", "wanted", "measured", "met"], r.targets.map((x) => [x.name, x.target, x.measured, x.met ? "yes" : "**no**"])));
  lines.push("");
  return lines.join("\n");
}

function table(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? "").length)));
  const line = (row: string[]) => `| ${row.map((cell, i) => cell.padEnd(widths[i]!)).join(" | ")} |`;
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)].join("\n");
}

const fmt = (n: number | undefined) => (n === undefined ? "–" : n.toLocaleString("en-US", { maximumFractionDigits: 1 }));
const unit = (u: "us" | "ms") => (u === "us" ? "µs" : "ms");
const pathName = (p: string) =>
  ({ warm: "warm (memory)", ssm: "SSM (new container)", miss: "miss (warm container, token stale)", "miss-new-container": "miss (new container after a sibling)" })[p] ?? p;

function ratio(value: number): string {
  if (value >= 0.1) return `${value.toFixed(2)}×`;
  return `1/${fmt(Math.round(1 / value))}`;
}
