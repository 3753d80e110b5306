export interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of sorted samples. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function summarize(samples: ArrayLike<number>, scale = 1): Summary {
  const sorted = Float64Array.from(samples).sort();
  let total = 0;
  for (const v of sorted) total += v;
  const at = (p: number) => round(percentile(sorted, p) * scale);
  return { n: sorted.length, p50: at(50), p90: at(90), p99: at(99), max: at(100), mean: round((total / Math.max(1, sorted.length)) * scale) };
}

export const round = (value: number, digits = 3) => Number(value.toFixed(digits));

export const perMillion = (calls: number, invocations: number) => (invocations > 0 ? round((calls / invocations) * 1e6, 1) : 0);
