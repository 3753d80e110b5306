// `npm run bench` (full) and `npm run bench -- --quick`: the three strategies side by side on
// moto and the NewStore sandbox. Progress goes to stderr; the Markdown report to stdout, to
// results.md, results.json and the chart calls-per-million.svg (bench/ for a full run, bench/quick/
// for --quick, or --out DIR).
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { callsPerMillionSvg } from "./chart.js";
import { type BenchConfig, FULL, QUICK } from "./config.js";
import { evaluateTargets, type Machine, markdown, type Results } from "./report.js";
import { runHerd } from "./scenarios/herd.js";
import { runLatency } from "./scenarios/latency.js";
import { runSteady, type SteadyRow } from "./scenarios/steady.js";
import { memoryThroughput, motoThroughput } from "./scenarios/throughput.js";
import { STRATEGIES } from "./strategies/index.js";
import { startWorld } from "./world.js";

export async function runBench(config: BenchConfig, outDir: string, progress: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<Results> {
  const started = performance.now();
  const loadBefore = loadavg()[0]!;
  // In-memory throughput first, while nothing else runs in this process or in moto.
  const memory = await memoryThroughput(config.throughput, progress);
  const world = await startWorld();
  let partial: Omit<Results, "targets" | "realSeconds">;
  try {
    const herd = await runHerd(world, config.herd.sizes, STRATEGIES, progress);
    const steady: SteadyRow[] = [];
    for (const name of STRATEGIES) steady.push(await runSteady(world, config.steady, name, progress));
    const latency = await runLatency(world, config.latency, progress);
    const moto = await motoThroughput(world, config.throughput, progress);
    partial = { date: new Date().toISOString(), mode: config.mode, machine: { ...machine(), loadAverageAtStart: Math.round(loadBefore * 100) / 100 }, config, herd, steady, latency, throughput: { memory, moto } };
  } finally {
    await world.close();
  }
  const withTime = { ...partial, realSeconds: Math.round((performance.now() - started) / 1000) };
  const results: Results = { ...withTime, targets: evaluateTargets(withTime) };

  mkdirSync(outDir, { recursive: true });
  const s = config.steady;
  const svg = await callsPerMillionSvg(results.steady, [
    `steady: ${s.containers} containers, ${s.hours} simulated hours, ${s.ratePerSecond} invocations/s, TTL ${s.ttlSeconds} s, margin 300 s`,
    `${config.mode} run ${results.date.slice(0, 10)}: ${results.machine.cpuModel}, ${results.machine.cores} cores, Node ${results.machine.node}, moto ${results.machine.moto}`,
  ]);
  writeFileSync(join(outDir, "calls-per-million.svg"), svg);
  writeFileSync(join(outDir, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
  const report = markdown(results);
  writeFileSync(join(outDir, "results.md"), `${report}\n![Calls per 1M invocations](calls-per-million.svg)\n`);
  return results;
}

function machine(): Omit<Machine, "loadAverageAtStart"> {
  let moto = "unknown";
  try {
    moto = execFileSync("python3", ["-c", "import moto; print(moto.__version__)"], { encoding: "utf8" }).trim();
  } catch {
    // reported as unknown
  }
  return {
    cpuModel: cpus()[0]?.model.trim() ?? "unknown",
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    moto,
    loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

async function main() {
  const { values } = parseArgs({ options: { quick: { type: "boolean", default: false }, out: { type: "string" } } });
  const config = values.quick ? QUICK : FULL;
  const outDir = values.out ?? join(import.meta.dirname, values.quick ? "quick" : ".");
  const results = await runBench(config, outDir);
  process.stdout.write(`${markdown(results)}\n`);
  process.stderr.write(`wrote ${join(outDir, "results.json")}, results.md and calls-per-million.svg\n`);
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  main().then(
    () => process.exit(0),
    (error: Error) => {
      process.stderr.write(`bench: ${error.stack ?? error.message}\n`);
      process.exit(1);
    },
  );
}
