import { MetricUnit, Metrics } from "@aws-lambda-powertools/metrics";
import type { Metrics as MetricsPort } from "@newstore-auth/core/ports";

/** Powertools' CloudWatch EMF metrics behind core's port; `flush` at the end of each invocation. */
export function powertoolsMetrics(serviceName: string): MetricsPort & { flush(): void } {
  const metrics = new Metrics({ namespace: "newstore-auth", serviceName });
  return {
    count(name, value, dimension) {
      if (!dimension) return void metrics.addMetric(name, MetricUnit.Count, value);
      // A dimension of its own: published at once, not mixed into the invocation's metric set.
      const single = metrics.singleMetric();
      single.addDimension(dimension.name, dimension.value);
      single.addMetric(name, MetricUnit.Count, value);
    },
    observe(name, value, unit) {
      metrics.addMetric(name, MetricUnit[unit], value);
    },
    flush: () => metrics.publishStoredMetrics(),
  };
}
