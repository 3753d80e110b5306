// The chart of calls per 1M invocations per strategy (steady scenario), drawn with Vega-Lite:
// the spec is compiled to Vega and rendered headless to SVG (no canvas needed).
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import type { SteadyRow } from "./scenarios/steady.js";

export async function callsPerMillionSvg(rows: readonly SteadyRow[], subtitle: string[]): Promise<string> {
  const values = rows.flatMap((row) => [
    { strategy: row.strategy, call: "NewStore calls", perMillion: row.perMillion.newstore },
    { strategy: row.strategy, call: "SSM reads", perMillion: row.perMillion.ssmReads },
    { strategy: row.strategy, call: "SSM writes", perMillion: row.perMillion.ssmWrites },
    { strategy: row.strategy, call: "PutEvents", perMillion: row.perMillion.putEvents },
  ]);
  const calls = ["NewStore calls", "SSM reads", "SSM writes", "PutEvents"];
  const strategies = rows.map((r) => r.strategy);
  const top = Math.max(1, ...values.map((v) => v.perMillion));
  const ticks = [0, 10, 30, 100, 300, 1_000, 3_000, 10_000, 30_000, 100_000, 300_000, 1_000_000].filter((t) => t <= top * 1.5);
  const spec: TopLevelSpec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: "Calls per 1M invocations, by strategy", subtitle, anchor: "start" },
    width: 560,
    height: 320,
    background: "white",
    data: { values },
    encoding: {
      x: { field: "call", type: "nominal", sort: calls, title: null, axis: { labelAngle: 0, labelFontSize: 12 } },
      xOffset: { field: "strategy", type: "nominal", sort: strategies },
      y: {
        field: "perMillion",
        type: "quantitative",
        title: "calls per 1M invocations (symlog scale)",
        scale: { type: "symlog" },
        axis: { values: ticks, format: ",d" },
      },
      color: { field: "strategy", type: "nominal", sort: strategies, title: "strategy", scale: { scheme: "tableau10" } },
    },
    layer: [
      { mark: { type: "bar" } },
      {
        mark: { type: "text", dy: -6, fontSize: 10 },
        encoding: { text: { field: "perMillion", type: "quantitative", format: ",.0f" } },
      },
    ],
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}
