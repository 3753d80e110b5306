// Runs `npm run bench -- --quick` as a child process (so --quick is known to reach the script) and
// asserts the counts it reports, never its times.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Results } from "../../bench/report.js";

const root = join(import.meta.dirname, "../..");

describe("npm run bench -- --quick", () => {
  const out = mkdtempSync(join(tmpdir(), "newstore-auth-bench-"));
  let results: Results;
  let stdout = "";

  beforeAll(async () => {
    const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile("npm", ["run", "bench", "--", "--quick", "--out", out], { cwd: root, timeout: 110_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    if (run.code !== 0) throw new Error(`the quick benchmark failed (${run.code}):\n${run.stderr.slice(-4000)}`);
    stdout = run.stdout;
    results = JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as Results;
  }, 120_000);

  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it("ran the quick sizes and wrote the table, results.json with the machine, and the chart", () => {
    expect(results.mode).toBe("quick");
    expect(results.machine.cores).toBeGreaterThan(0);
    expect(results.machine.cpuModel).not.toBe("");
    expect(results.machine.node).toBe(process.version);
    expect(stdout).toContain("| strategy");
    expect(stdout).toContain("### Targets (issue 6)");
    const svg = readFileSync(join(out, "calls-per-million.svg"), "utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    for (const label of ["direct", "shared-ssm", "broker", "NewStore calls", "SSM reads"]) expect(svg).toContain(label);
  });

  it("herd: the broker calls NewStore exactly once at every N, and every container gets the same token", () => {
    const sizes = results.config.herd.sizes;
    const broker = results.herd.filter((h) => h.strategy === "broker");
    expect(broker.map((h) => h.n)).toEqual(sizes);
    for (const h of broker) {
      expect(h.newstoreCalls).toBe(1);
      expect(h.served).toBe(h.n);
      expect(h.failed).toBe(0);
      expect(h.distinctTokens).toBe(1);
      expect(h.tokenWrites).toBe(1);
    }
  });

  it("herd: direct and shared-ssm call NewStore more often than the broker (the benchmark measures something)", () => {
    for (const n of results.config.herd.sizes) {
      const at = (strategy: string) => results.herd.find((h) => h.n === n && h.strategy === strategy)!;
      expect(at("direct").newstoreCalls).toBe(n); // one per container
      expect(at("direct").newstoreCalls).toBeGreaterThan(at("broker").newstoreCalls);
      expect(at("shared-ssm").newstoreCalls).toBeGreaterThan(at("broker").newstoreCalls);
      expect(at("shared-ssm").tokenWrites).toBe(at("shared-ssm").newstoreCalls); // each fetcher overwrote it
    }
  });

  it("steady: broker SSM reads ≤ containers × rotations + recycled containers' cold starts, no wait after the first token", () => {
    const { containers, hours, ratePerSecond } = results.config.steady;
    const steady = results.steady.find((s) => s.strategy === "broker")!;
    const rotations = steady.newstoreCalls; // tokens the broker fetched: the first, then one per scheduled refresh
    expect(steady.failed).toBe(0);
    expect(steady.invocations).toBe(1 + hours * 3600 * ratePerSecond);
    expect(rotations).toBe(steady.broker!.expectedRotations);
    expect(steady.waitedOnRefresh).toBe(1); // the very first invocation only
    expect(steady.waitedAfterFirstToken).toBe(0);
    expect(steady.putEventsByConsumers).toBe(1);
    expect(steady.servedInsideMargin).toBe(0);
    // Per container slot: one read per container instance (its cold start; a recycled one starts
    // anew) and one per rotation after the first token. The very first invocation is a miss: it
    // reads the parameter, then the version token.ready names (plus any re-read while waiting).
    const firstReads = steady.broker!.firstInvocationSsmReads;
    expect(firstReads).toBeGreaterThanOrEqual(2);
    expect(firstReads).toBeLessThanOrEqual(4);
    const bound = containers * rotations + steady.recycles + (firstReads - 1);
    expect(steady.recycles).toBeGreaterThan(0);
    expect(steady.ssmReadsByConsumers).toBeLessThanOrEqual(bound);
    expect(steady.broker!.readsPerContainerPerRotation).toBeLessThanOrEqual(1);
  });

  it("steady: every strategy served the same invocations, and the broker called NewStore least", () => {
    const at = (strategy: string) => results.steady.find((s) => s.strategy === strategy)!;
    const broker = at("broker");
    for (const strategy of ["direct", "shared-ssm"]) {
      expect(at(strategy).invocations).toBe(broker.invocations);
      expect(at(strategy).failed).toBe(0);
      expect(at(strategy).servedInsideMargin).toBe(0);
      expect(at(strategy).newstoreCalls).toBeGreaterThanOrEqual(broker.newstoreCalls);
    }
    expect(at("direct").newstoreCalls).toBeGreaterThan(broker.newstoreCalls);
  });
});
