// The SDK goes into consumers' Lambda bundles: it must not drag in SST or the CDK.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../../..");

/** Every bare module specifier reachable from a file, following relative and workspace imports. */
function externalImports(entry: string): Set<string> {
  const seen = new Set<string>();
  const external = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const { fileName: spec } of ts.preProcessFile(readFileSync(file, "utf8"), true, true).importedFiles) {
      const workspace = /^@newstore-auth\/([^/]+)(?:\/(.+))?$/.exec(spec);
      if (spec.startsWith(".")) visit(resolve(dirname(file), spec.replace(/\.js$/, ".ts")));
      else if (workspace) visit(join(root, "packages", workspace[1]!, "src", `${workspace[2] ?? "index"}.ts`));
      else external.add(spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!);
    }
  };
  visit(entry);
  expect([...seen].every(existsSync)).toBe(true);
  return external;
}

describe("@newstore-auth/client", () => {
  it("imports no SST, CDK or construct library, only the AWS SDK clients, zod and node built-ins", () => {
    const external = externalImports(join(root, "packages/client/src/index.ts"));
    expect([...external].filter((m) => /^(sst|aws-cdk-lib|constructs|@aws-cdk)/.test(m))).toEqual([]);
    expect([...external].filter((m) => !m.startsWith("node:")).sort()).toEqual([
      "@aws-sdk/client-eventbridge",
      "@aws-sdk/client-sqs",
      "@aws-sdk/client-ssm",
      "zod",
    ]);
  });
});
