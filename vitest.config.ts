import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "stacks/test/**/*.test.ts", "test/**/*.test.ts"],
    // Integration files start their own moto server; two at a time fit two cores.
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 90_000,
    env: { SST_TELEMETRY_DISABLED: "1" },
  },
});
