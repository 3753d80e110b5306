// Helpers shared by the stack tests: synthesizing the real SST app, and reading CloudFormation
// values (intrinsics, IAM statements) as plain strings that assertions can compare.
import { fileURLToPath } from "node:url";
import { Aws } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { App, getStack } from "sst/constructs";
import type { FunctionalStack } from "sst/constructs/FunctionalStack.js";
import { initProject } from "sst/project.js";
import { afterAll, beforeAll, expect } from "vitest";
import { APP_NAME } from "@newstore-auth/core/settings";

// The apps get AWS pseudo parameters as their account and region, so any ARN a stack builds
// from them renders with these placeholders (and one hard-coded region or account would show).
export const PARTITION = "${AWS::Partition}";
export const REGION = "${AWS::Region}";
export const ACCOUNT = "${AWS::AccountId}";

export type Json = Record<string, unknown>;
export const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** A stack's exports by name, to render the `Fn::ImportValue`s of the stacks that use it. */
export type Exports = Record<string, unknown>;

export function exportsOf(template: Template): Exports {
  const outputs = (template.toJSON().Outputs ?? {}) as Record<string, { Value: unknown; Export?: { Name?: unknown } }>;
  return Object.fromEntries(
    Object.values(outputs)
      .filter((o) => typeof o.Export?.Name === "string")
      .map((o) => [o.Export!.Name as string, o.Value]),
  );
}

/**
 * Renders a CloudFormation value as a readable string: `${Ref}`, `${Logical.Attr}`, joins inlined;
 * an import renders as the value its producer exports (so `${Bus.Arn}` whichever stack reads it).
 */
export function render(value: unknown, exports: Exports = {}): string {
  if (typeof value === "string") return value;
  if (isObject(value) && Object.keys(value).length === 1) {
    const [fn, arg] = Object.entries(value)[0]!;
    if (fn === "Ref" && typeof arg === "string") return `\${${arg}}`;
    if (fn === "Fn::GetAtt" && Array.isArray(arg)) return `\${${arg.join(".")}}`;
    if (fn === "Fn::Join" && Array.isArray(arg)) {
      const [separator, parts] = arg as [string, unknown[]];
      return parts.map((part) => render(part, exports)).join(separator);
    }
    if (fn === "Fn::ImportValue" && typeof arg === "string" && arg in exports) return render(exports[arg], exports);
  }
  throw new Error(`cannot render ${JSON.stringify(value)}`);
}

const isIntrinsic = (value: Json) => Object.keys(value).length === 1 && /^(Ref|Fn::)/.test(Object.keys(value)[0]!);

/** render() applied to every intrinsic inside a structure (policy conditions and the like). */
export function renderDeep(value: unknown, exports: Exports = {}): unknown {
  if (Array.isArray(value)) return value.map((v) => renderDeep(v, exports));
  if (isObject(value)) {
    return isIntrinsic(value)
      ? render(value, exports)
      : Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderDeep(v, exports)]));
  }
  return value;
}

export const list = (value: unknown): unknown[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

export interface Statement {
  Effect: string;
  Action: string[];
  Resource: string[];
  Condition?: unknown;
  raw: Json;
}

export const normalize = (raw: Json, exports: Exports = {}): Statement => ({
  Effect: raw.Effect as string,
  Action: list(raw.Action).map((a) => render(a, exports)),
  Resource: list(raw.Resource).map((r) => render(r, exports)),
  Condition: renderDeep(raw.Condition, exports),
  raw,
});

export function only<T>(found: Record<string, T>, what: string): [string, T] {
  const entries = Object.entries(found);
  expect(entries.length, `exactly one ${what}`).toBe(1);
  return entries[0]!;
}

/** A resource as `Template.findResources` returns it. */
type Resource = ReturnType<Template["findResources"]>[string];

/** The one function whose handler ends with `handler` (e.g. "broker.handler"). */
export function functionByHandler(template: Template, handler: string): [string, Resource] {
  const fns = Object.entries(template.findResources("AWS::Lambda::Function")).filter(([, fn]) =>
    String(fn.Properties.Handler).endsWith(handler),
  );
  expect(fns.length, `exactly one function with handler ${handler}`).toBe(1);
  return fns[0] as [string, Resource];
}

/** A function's execution role, which must be a resource of the same template. */
export function roleOf(template: Template, fn: Resource): [string, Resource] {
  const roleId = render(fn.Properties.Role).match(/^\$\{(.+)\.Arn\}$/)?.[1];
  expect(roleId, "the function's role is a resource of this stack").toBeDefined();
  return [roleId!, template.toJSON().Resources[roleId!] as Resource];
}

/** Every statement of a role: its inline policies and the policies that attach to it. */
export function roleStatements(template: Template, roleId: string, exports: Exports = {}): Statement[] {
  const resource = template.toJSON().Resources[roleId] as Resource;
  const attached = [
    ...Object.values(template.findResources("AWS::IAM::Policy")),
    ...Object.values(template.findResources("AWS::IAM::ManagedPolicy")),
  ].filter((p) => list(p.Properties.Roles).some((r) => render(r) === `\${${roleId}}`));
  const documents = [
    ...attached.map((p) => p.Properties.PolicyDocument as Json),
    ...(list(resource.Properties.Policies) as Json[]).map((p) => p.PolicyDocument as Json),
  ];
  return documents.flatMap((d) => list(d.Statement) as Json[]).map((s) => normalize(s, exports));
}

/**
 * Synthesizes the real SST app with `stacks`, in order, functions built (no AWS calls), and
 * returns a Template for each. SST keeps its project and app state per process, so call this once
 * per test file. `shellEnv` lists the variables the stacks copy from the deploying shell: they
 * are removed while synthesizing (the template must not depend on whoever runs the test) and put
 * back by `restore()` (so are those in `setEnv`). Use a stage of its own per test file: SST builds each function into
 * .sst/artifacts/{its construct address}, which the stage is part of, and test files run in
 * parallel processes.
 */
export async function synthesize(options: {
  stage: string;
  stacks: FunctionalStack<any>[];
  shellEnv: string[];
  /** Set in the "deploying shell" after the clean-up, to test what the stacks copy from it. */
  setEnv?: Record<string, string>;
}): Promise<{ templates: Template[]; ms: number; restore: () => void }> {
  const started = Date.now();
  const saved: Record<string, string | undefined> = {};
  for (const key of options.shellEnv) {
    saved[key] = process.env[key];
    delete process.env[key];
  }
  for (const [key, value] of Object.entries(options.setEnv ?? {})) {
    saved[key] ??= process.env[key];
    process.env[key] = value;
  }
  const restore = () => {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
  try {
    // SST resolves handlers and writes its bundled config relative to the working directory.
    process.chdir(fileURLToPath(new URL("../..", import.meta.url)));
    await initProject({ stage: options.stage });
    const app = new App({ mode: "deploy", name: APP_NAME, stage: options.stage, account: Aws.ACCOUNT_ID, region: Aws.REGION });
    for (const stack of options.stacks) app.stack(stack);
    // Builds the functions; without it they are inline placeholders.
    await app.finish();
    const templates = options.stacks.map((stack) => Template.fromStack(getStack(stack)));
    return { templates, ms: Date.now() - started, restore };
  } catch (error) {
    restore();
    throw error;
  }
}

/** Whether the queue's policy lets EventBridge deliver to it from the rule (it cannot otherwise). */
export function queueAllowsRule(template: Template, queueId: string, ruleId: string): boolean {
  const policies = Object.values(template.findResources("AWS::SQS::QueuePolicy")).filter((p) =>
    list(p.Properties.Queues).some((q) => render(q) === `\${${queueId}}`),
  );
  const statements = policies.flatMap((p) => list(p.Properties.PolicyDocument.Statement) as Json[]);
  return statements.some(
    (s) =>
      s.Effect === "Allow" &&
      isObject(s.Principal) &&
      s.Principal.Service === "events.amazonaws.com" &&
      list(s.Action).includes("sqs:SendMessage") &&
      render(s.Resource) === `\${${queueId}.Arn}` &&
      isObject(s.Condition) &&
      isObject(s.Condition.ArnEquals) &&
      render(s.Condition.ArnEquals["aws:SourceArn"]) === `\${${ruleId}.Arn}`,
  );
}

/** The admin API's routes (DESIGN, "Admin API"), as `apiMethods` names them. */
export const ADMIN_ROUTES = [
  "GET /health",
  "GET /credentials",
  "POST /credentials",
  "GET /credentials/{clientId}",
  "PUT /credentials/{clientId}",
  "DELETE /credentials/{clientId}",
];

/** Every method of the template's one REST API as "VERB /path", the path rebuilt from its resource tree. */
export function apiMethods(template: Template): Array<{ route: string; properties: Record<string, any> }> {
  const resources = template.findResources("AWS::ApiGateway::Resource");
  const [apiId] = only(template.findResources("AWS::ApiGateway::RestApi"), "REST API");
  const pathOf = (ref: unknown): string => {
    const rendered = render(ref);
    if (rendered === `\${${apiId}.RootResourceId}`) return "";
    const id = rendered.match(/^\$\{(\w+)\}$/)?.[1];
    const resource = id === undefined ? undefined : resources[id];
    if (!resource) throw new Error(`method on an unknown resource ${rendered}`);
    expect(render(resource.Properties.RestApiId)).toBe(`\${${apiId}}`);
    return `${pathOf(resource.Properties.ParentId)}/${resource.Properties.PathPart}`;
  };
  return Object.values(template.findResources("AWS::ApiGateway::Method")).map((method) => ({
    route: `${method.Properties.HttpMethod} ${pathOf(method.Properties.ResourceId) || "/"}`,
    properties: method.Properties,
  }));
}

/** No CORS: no OPTIONS method, and no Access-Control-* header in any method, integration or gateway response. */
export function expectNoCors(template: Template): void {
  const methods = apiMethods(template);
  expect(methods.length).toBeGreaterThan(0);
  expect(methods.filter((m) => m.properties.HttpMethod === "OPTIONS").map((m) => m.route)).toEqual([]);
  const headerNames = (responses: unknown) =>
    (list(responses) as Json[]).flatMap((r) => [
      ...Object.keys(isObject(r.ResponseParameters) ? r.ResponseParameters : {}),
      ...Object.keys(isObject(r.ResponseModels) ? r.ResponseModels : {}),
    ]);
  for (const { route, properties } of methods) {
    const integration = (properties.Integration ?? {}) as Json;
    const names = [...headerNames(properties.MethodResponses), ...headerNames(integration.IntegrationResponses)];
    expect(names.filter((n) => /access-control/i.test(n)), route).toEqual([]);
  }
  for (const [id, response] of Object.entries(template.findResources("AWS::ApiGateway::GatewayResponse"))) {
    const names = Object.keys(response.Properties.ResponseParameters ?? {});
    expect(names.filter((n) => /access-control/i.test(n)), id).toEqual([]);
  }
  // And nowhere else in the template either (a Cors option, a mock integration's header mapping).
  expect(JSON.stringify(template.toJSON())).not.toMatch(/access-control-allow/i);
}

/** A statement reduced to what it grants, for comparing a role's full set against an expected one. */
export interface Grant {
  Effect: string;
  Action: string[];
  Resource: string[];
  Condition?: unknown;
}

const byJson = (a: unknown, b: unknown) => JSON.stringify(a).localeCompare(JSON.stringify(b));

/** Statements (or expected grants) in a canonical order: actions and resources sorted, then the list. */
export function grants(statements: Array<Statement | Grant>): Grant[] {
  return statements
    .map((s) => ({
      Effect: s.Effect,
      Action: [...s.Action].sort(),
      Resource: [...s.Resource].sort(),
      ...(s.Condition === undefined ? {} : { Condition: s.Condition }),
    }))
    .sort(byJson);
}

/**
 * Synthesizes once for the test file (in its beforeAll), restores the deploying shell and reports
 * the time after it (afterAll); the returned function gives the templates in stack order.
 */
export function synthesizeInFile(label: string, options: Parameters<typeof synthesize>[0]): () => Template[] {
  let result: Awaited<ReturnType<typeof synthesize>> | undefined;
  beforeAll(async () => {
    result = await synthesize(options);
  });
  afterAll(() => {
    result?.restore();
    if (result) console.log(`${label} synthesized in ${result.ms} ms`);
  });
  return () => {
    if (!result) throw new Error("the stacks are synthesized in beforeAll");
    return result.templates;
  };
}
