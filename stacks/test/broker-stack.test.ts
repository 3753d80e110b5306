// Synthesizes the real SST app (functions built, no AWS calls) and checks the template against
// DESIGN: the serialization chain, the FIFO settings and the broker's least-privilege role.
import { fileURLToPath } from "node:url";
import { Aws } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { App, getStack } from "sst/constructs";
import { initProject } from "sst/project.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { APP_NAME, brokerQueue, Env, namesFor } from "@newstore-auth/core/settings";
import { BrokerStack } from "../BrokerStack.js";

const STAGE = "test";
const names = namesFor(STAGE);
// The app gets AWS pseudo parameters as its account and region, so any ARN the stack builds
// from them renders with these placeholders (and one hard-coded region or account would show).
const PARTITION = "${AWS::Partition}";
const REGION = "${AWS::Region}";
const ACCOUNT = "${AWS::AccountId}";

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value);

/** Renders a CloudFormation value as a readable string: `${Ref}`, `${Logical.Attr}`, joins inlined. */
function render(value: unknown): string {
  if (typeof value === "string") return value;
  if (isObject(value) && Object.keys(value).length === 1) {
    const [fn, arg] = Object.entries(value)[0]!;
    if (fn === "Ref" && typeof arg === "string") return `\${${arg}}`;
    if (fn === "Fn::GetAtt" && Array.isArray(arg)) return `\${${arg.join(".")}}`;
    if (fn === "Fn::Join" && Array.isArray(arg)) {
      const [separator, parts] = arg as [string, unknown[]];
      return parts.map(render).join(separator);
    }
  }
  throw new Error(`cannot render ${JSON.stringify(value)}`);
}

const isIntrinsic = (value: Json) => Object.keys(value).length === 1 && /^(Ref|Fn::)/.test(Object.keys(value)[0]!);

/** render() applied to every intrinsic inside a structure (policy conditions and the like). */
function renderDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(renderDeep);
  if (isObject(value)) {
    return isIntrinsic(value) ? render(value) : Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderDeep(v)]));
  }
  return value;
}

const list = (value: unknown): unknown[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

interface Statement {
  Effect: string;
  Action: string[];
  Resource: string[];
  Condition?: unknown;
  raw: Json;
}

const normalize = (raw: Json): Statement => ({
  Effect: raw.Effect as string,
  Action: list(raw.Action).map(render),
  Resource: list(raw.Resource).map(render),
  Condition: renderDeep(raw.Condition),
  raw,
});

function only<T>(found: Record<string, T>, what: string): [string, T] {
  const entries = Object.entries(found);
  expect(entries.length, `exactly one ${what}`).toBe(1);
  return entries[0]!;
}

let template: Template;
let synthMs = 0;
const savedEnv: Record<string, string | undefined> = {};
const deployShellEnv = Object.values(Env);

beforeAll(async () => {
  const started = Date.now();
  // SST resolves handlers and writes its bundled config relative to the working directory.
  process.chdir(fileURLToPath(new URL("../..", import.meta.url)));
  // The stack reads these from the deploying shell; the template under test must not depend on
  // whoever runs the test.
  for (const key of deployShellEnv) {
    savedEnv[key] = process.env[key];
    delete process.env[key];
  }
  await initProject({ stage: STAGE });
  const app = new App({ mode: "deploy", name: APP_NAME, stage: STAGE, account: Aws.ACCOUNT_ID, region: Aws.REGION });
  app.stack(BrokerStack);
  // Builds the functions; without it they are inline placeholders.
  await app.finish();
  template = Template.fromStack(getStack(BrokerStack));
  synthMs = Date.now() - started;
});

afterAll(() => {
  for (const [key, value] of Object.entries(savedEnv)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  console.log(`BrokerStack synthesized in ${synthMs} ms`);
});

describe("BrokerStack", () => {
  const bus = () => only(template.findResources("AWS::Events::EventBus"), "event bus");
  const queue = () =>
    only(template.findResources("AWS::SQS::Queue", { Properties: { QueueName: names.requestQueueName } }), "request queue");
  const deadLetterQueue = () =>
    only(template.findResources("AWS::SQS::Queue", { Properties: { QueueName: names.deadLetterQueueName } }), "dead-letter queue");
  const broker = () => {
    const fns = Object.entries(template.findResources("AWS::Lambda::Function")).filter(([, fn]) =>
      String(fn.Properties.Handler).endsWith("broker.handler"),
    );
    expect(fns.length, "exactly one built broker function").toBe(1);
    return fns[0]!;
  };

  it("creates the bus with the stage's name", () => {
    const [, resource] = bus();
    expect(resource.Properties.Name).toBe("newstore-auth-test");
  });

  it("runs the broker serialized on nodejs20.x", () => {
    const [, fn] = broker();
    expect(fn.Properties.ReservedConcurrentExecutions).toBe(1);
    expect(fn.Properties.Runtime).toBe("nodejs20.x");
    expect(fn.Properties.Timeout).toBe(brokerQueue.functionTimeoutSeconds);
    expect(fn.Properties.MemorySize).toBe(512);
  });

  it("feeds it from a FIFO queue whose visibility outlasts 6 function timeouts", () => {
    const [, q] = queue();
    const [, fn] = broker();
    expect(q.Properties.FifoQueue).toBe(true);
    expect(q.Properties.ContentBasedDeduplication).toBe(true);
    expect(typeof fn.Properties.Timeout).toBe("number");
    expect(q.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * fn.Properties.Timeout);
  });

  it("sends repeatedly failing messages to a FIFO dead-letter queue", () => {
    const [, q] = queue();
    const redrive = q.Properties.RedrivePolicy;
    expect(redrive.maxReceiveCount).toBe(brokerQueue.maxReceiveCount);
    expect(redrive.maxReceiveCount).toBeGreaterThanOrEqual(5);
    const [dlqId, dlq] = deadLetterQueue();
    expect(render(redrive.deadLetterTargetArn)).toBe(`\${${dlqId}.Arn}`);
    expect(dlq.Properties.FifoQueue).toBe(true);
  });

  it("consumes the queue in batches with partial batch responses", () => {
    const [queueId] = queue();
    const [fnId] = broker();
    const [, mapping] = only(template.findResources("AWS::Lambda::EventSourceMapping"), "event source mapping");
    expect(render(mapping.Properties.EventSourceArn)).toBe(`\${${queueId}.Arn}`);
    expect(render(mapping.Properties.FunctionName)).toBe(`\${${fnId}}`);
    expect(mapping.Properties.BatchSize).toBe(brokerQueue.batchSize);
    expect(mapping.Properties.BatchSize).toBeLessThanOrEqual(10); // SQS FIFO's limit
    expect(mapping.Properties.FunctionResponseTypes).toEqual(["ReportBatchItemFailures"]);
  });

  it("routes token.requested into the queue under one message group", () => {
    const [busId] = bus();
    const [queueId] = queue();
    const [ruleId, rule] = only(
      template.findResources("AWS::Events::Rule", { Properties: { EventBusName: { Ref: busId } } }),
      "rule on the bus",
    );
    expect(rule.Properties.EventPattern).toEqual({ "detail-type": ["token.requested"] });
    expect(rule.Properties.Targets).toHaveLength(1);
    const [target] = rule.Properties.Targets;
    expect(render(target.Arn)).toBe(`\${${queueId}.Arn}`);
    expect(target.SqsParameters.MessageGroupId).toBe(brokerQueue.messageGroupId);

    // Without this queue policy EventBridge cannot deliver.
    const policies = Object.values(template.findResources("AWS::SQS::QueuePolicy")).filter((p) =>
      list(p.Properties.Queues).some((q) => render(q) === `\${${queueId}}`),
    );
    const statements = policies.flatMap((p) => list(p.Properties.PolicyDocument.Statement) as Json[]);
    expect(
      statements.some(
        (s) =>
          isObject(s.Principal) &&
          s.Principal.Service === "events.amazonaws.com" &&
          list(s.Action).includes("sqs:SendMessage") &&
          isObject(s.Condition) &&
          isObject(s.Condition.ArnEquals) &&
          render(s.Condition.ArnEquals["aws:SourceArn"]) === `\${${ruleId}.Arn}`,
      ),
    ).toBe(true);
  });

  it("sets the broker's environment from the names", () => {
    const [, fn] = broker();
    const [, busResource] = bus();
    const variables = fn.Properties.Environment.Variables;
    expect(variables[Env.stage]).toBe("test");
    expect(variables[Env.busName]).toBe("newstore-auth-test");
    expect(variables[Env.busName]).toBe(busResource.Properties.Name);
    expect(variables[Env.parameterPrefix]).toBe("/newstore-auth/test");
    expect(variables).not.toHaveProperty(Env.tokenUrl); // only when set at deploy time
  });

  it("outputs what operators and other stacks need", () => {
    const [busId] = bus();
    const [queueId] = queue();
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(render(outputs.BusName?.Value)).toBe(`\${${busId}}`);
    expect(render(outputs.QueueUrl?.Value)).toBe(`\${${queueId}}`);
    expect(render(outputs.DeadLetterQueueUrl?.Value)).toBe(`\${${deadLetterQueue()[0]}}`);
    expect(outputs.ParameterPrefix?.Value).toBe("/newstore-auth/test");
  });

  describe("the broker's role", () => {
    const role = () => {
      const [, fn] = broker();
      const roleId = render(fn.Properties.Role).match(/^\$\{(.+)\.Arn\}$/)?.[1];
      expect(roleId, "the broker's role is a resource of this stack").toBeDefined();
      return [roleId!, template.toJSON().Resources[roleId!] as Json & { Properties: Json }] as const;
    };
    const statements = (): Statement[] => {
      const [roleId, resource] = role();
      const attached = [
        ...Object.values(template.findResources("AWS::IAM::Policy")),
        ...Object.values(template.findResources("AWS::IAM::ManagedPolicy")),
      ].filter((p) => list(p.Properties.Roles).some((r) => render(r) === `\${${roleId}}`));
      const documents = [
        ...attached.map((p) => p.Properties.PolicyDocument as Json),
        ...(list(resource.Properties.Policies) as Json[]).map((p) => p.PolicyDocument as Json),
      ];
      return documents.flatMap((d) => list(d.Statement) as Json[]).map(normalize);
    };
    const credentials = `arn:${PARTITION}:ssm:${REGION}:${ACCOUNT}:parameter/newstore-auth/test/credentials/*`;
    const tokens = `arn:${PARTITION}:ssm:${REGION}:${ACCOUNT}:parameter/newstore-auth/test/tokens/*`;

    it("has no wildcard actions or resources and only the services it uses", () => {
      const all = statements();
      expect(all.length).toBeGreaterThan(0);
      for (const s of all) {
        expect(s.Effect, JSON.stringify(s.raw)).toBe("Allow");
        expect(s.raw, "NotAction/NotResource are broad by nature").not.toHaveProperty("NotAction");
        expect(s.raw).not.toHaveProperty("NotResource");
        for (const action of s.Action) expect(action, JSON.stringify(s.raw)).not.toContain("*");
        expect(s.Resource, JSON.stringify(s.raw)).not.toContain("*");
      }
      const services = new Set(all.flatMap((s) => s.Action.map((a) => a.split(":")[0])));
      expect([...services].sort()).toEqual(["events", "kms", "sqs", "ssm"]);
      // The only managed policy is Lambda's logging one (AWS's, not ours to narrow here).
      const [, resource] = role();
      expect(list(resource.Properties.ManagedPolicyArns).map(render)).toEqual([
        `arn:${PARTITION}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole`,
      ]);
    });

    it("reads credentials and reads and writes tokens, nothing else in SSM", () => {
      const ssm = statements().filter((s) => s.Action.some((a) => a.startsWith("ssm:")));
      for (const s of ssm) expect(s.Action.every((a) => a === "ssm:GetParameter" || a === "ssm:PutParameter")).toBe(true);
      const resourcesOf = (action: string) =>
        [...new Set(ssm.filter((s) => s.Action.includes(action)).flatMap((s) => s.Resource))].sort();
      expect(resourcesOf("ssm:GetParameter")).toEqual([credentials, tokens].sort());
      expect(resourcesOf("ssm:PutParameter")).toEqual([tokens]);
    });

    it("uses KMS only through SSM and only with the aws/ssm key", () => {
      const kms = statements().filter((s) => s.Action.some((a) => a.startsWith("kms:")));
      expect(kms).toHaveLength(1);
      const [s] = kms;
      expect([...s!.Action].sort()).toEqual(["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]);
      expect(s!.Resource).toEqual([`arn:${PARTITION}:kms:${REGION}:${ACCOUNT}:key/*`]);
      expect(s!.Condition).toEqual({
        StringEquals: { "kms:ViaService": `ssm.${REGION}.amazonaws.com` },
        "ForAnyValue:StringEquals": { "kms:ResourceAliases": "alias/aws/ssm" },
      });
    });

    it("publishes only to its own bus", () => {
      const [busId] = bus();
      const events = statements().filter((s) => s.Action.some((a) => a.startsWith("events:")));
      expect(events.flatMap((s) => s.Action)).toEqual(["events:PutEvents"]);
      expect(events.flatMap((s) => s.Resource)).toEqual([`\${${busId}.Arn}`]);
    });

    it("consumes only its own queue", () => {
      const [queueId] = queue();
      const sqs = statements().filter((s) => s.Action.some((a) => a.startsWith("sqs:")));
      expect(sqs.length).toBeGreaterThan(0);
      expect(new Set(sqs.flatMap((s) => s.Resource))).toEqual(new Set([`\${${queueId}.Arn}`]));
      expect(sqs.flatMap((s) => s.Action)).toContain("sqs:DeleteMessage");
      expect(sqs.flatMap((s) => s.Action)).not.toContain("sqs:SendMessage");
    });
  });
});
