// Sizes of the full run and of --quick (small enough for a test, well under a minute).
export interface BenchConfig {
  mode: "full" | "quick";
  herd: { sizes: number[] };
  steady: {
    containers: number;
    hours: number;
    /** Invocations per simulated second; those of the same second run concurrently. */
    ratePerSecond: number;
    /** Every this many simulated seconds the next container (round-robin) is recycled. */
    recycleEverySeconds: number;
    ttlSeconds: number;
  };
  latency: { warmIterations: number; ssmIterations: number; missIterations: number; baselineIterations: number; newstoreDelayMs: number };
  throughput: { clients: number; batchSize: number; memoryBatches: number; motoClients: number; motoRequests: number };
}

export const FULL: BenchConfig = {
  mode: "full",
  herd: { sizes: [10, 100, 1000] },
  steady: { containers: 50, hours: 6, ratePerSecond: 5, recycleEverySeconds: 15 * 60, ttlSeconds: 3600 },
  latency: { warmIterations: 200_000, ssmIterations: 200, missIterations: 20, baselineIterations: 50, newstoreDelayMs: 50 },
  throughput: { clients: 100, batchSize: 10, memoryBatches: 50_000, motoClients: 100, motoRequests: 300 },
};

export const QUICK: BenchConfig = {
  mode: "quick",
  herd: { sizes: [10, 50] },
  steady: { containers: 20, hours: 3, ratePerSecond: 2, recycleEverySeconds: 15 * 60, ttlSeconds: 3600 },
  latency: { warmIterations: 20_000, ssmIterations: 20, missIterations: 3, baselineIterations: 10, newstoreDelayMs: 50 },
  throughput: { clients: 100, batchSize: 10, memoryBatches: 5_000, motoClients: 10, motoRequests: 40 },
};
