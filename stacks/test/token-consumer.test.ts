// The TokenConsumer construct: synthesized in the real SST app (the example stack next to the
// broker, one synth for the file: SST's build state is per process), and in a plain CDK stack for
// validation and for plain lambda.Functions.
import { App as CdkApp, Stack as CdkStack } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import * as events from "aws-cdk-lib/aws-events";
import * as kms from "aws-cdk-lib/aws-kms";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { beforeAll, describe, expect, it } from "vitest";
import {
  ConsumerEnv,
  consumerDefaults,
  Env,
  namesFor,
  replyPattern,
  rotationPattern,
} from "@newstore-auth/core/settings";
import { BrokerStack } from "../BrokerStack.js";
import { ExampleConsumerStack } from "../ExampleConsumerStack.js";
import { StackEnv } from "../options.js";
import { TokenConsumer, type TokenConsumerProps } from "../TokenConsumer.js";
import {
  ACCOUNT,
  exportsOf,
  functionByHandler,
  only,
  PARTITION,
  queueAllowsRule,
  REGION,
  render,
  roleOf,
  roleStatements,
  synthesizeInFile,
  type Exports,
  type Statement,
} from "./template.js";

// A stage of its own: the broker test builds the same functions in parallel (see synthesize()).
const STAGE = "consumer-test";
const names = namesFor(STAGE);
const TENANT = "acme-sandbox";

const SQS_ACTIONS = ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"];

/** What every consumer function's role must be, exactly: DESIGN's least privilege for consumers. */
function expectConsumerGrants(
  statements: Statement[],
  expected: {
    tokenArns: string[];
    busArn: string;
    queueArn: string;
    /** The broker's key (its ARN as rendered), or the account's aws/ssm key when none is given. */
    keyArn: string | "aws/ssm";
    partition: string;
    region: string;
    account: string;
  },
) {
  expect(statements.length).toBeGreaterThan(0);
  for (const s of statements) {
    expect(s.Effect, JSON.stringify(s.raw)).toBe("Allow");
    expect(s.raw).not.toHaveProperty("NotAction");
    expect(s.raw).not.toHaveProperty("NotResource");
    for (const resource of s.Resource) expect(resource, "nothing on credentials").not.toContain("credentials");
  }
  const services = new Set(statements.flatMap((s) => s.Action.map((a) => a.split(":")[0])));
  expect([...services].sort()).toEqual(["events", "kms", "sqs", "ssm"]);

  const ofService = (service: string) => statements.filter((s) => s.Action.some((a) => a.startsWith(`${service}:`)));
  // One statement that lists its tokens, and nothing else in SSM.
  const [ssm, ...moreSsm] = ofService("ssm");
  expect(moreSsm).toEqual([]);
  expect(ssm!.Action).toEqual(["ssm:GetParameter"]);
  expect(ssm!.Resource).toEqual(expected.tokenArns);

  const [kms, ...moreKms] = ofService("kms");
  expect(moreKms).toEqual([]);
  expect(kms!.Action, "decrypt only: consumers never write a SecureString").toEqual(["kms:Decrypt"]);
  const viaSsm = { "kms:ViaService": `ssm.${expected.region}.amazonaws.com` };
  if (expected.keyArn === "aws/ssm") {
    expect(kms!.Resource).toEqual([`arn:${expected.partition}:kms:${expected.region}:${expected.account}:key/*`]);
    expect(kms!.Condition).toEqual({
      StringEquals: viaSsm,
      "ForAnyValue:StringEquals": { "kms:ResourceAliases": "alias/aws/ssm" },
    });
  } else {
    expect(kms!.Resource, "the broker's key only").toEqual([expected.keyArn]);
    expect(kms!.Condition).toEqual({ StringEquals: viaSsm });
  }

  const eventsStatements = ofService("events");
  expect(eventsStatements.flatMap((s) => s.Action)).toEqual(["events:PutEvents"]);
  expect(eventsStatements.flatMap((s) => s.Resource)).toEqual([expected.busArn]);

  const sqs = ofService("sqs");
  expect(sqs.flatMap((s) => s.Action).sort()).toEqual(SQS_ACTIONS);
  expect(new Set(sqs.flatMap((s) => s.Resource))).toEqual(new Set([expected.queueArn]));
}

describe("ExampleConsumerStack (TokenConsumer in the SST app, next to the broker)", () => {
  let broker: Template;
  let consumer: Template;
  let exports: Exports;
  const synthesized = synthesizeInFile("BrokerStack + ExampleConsumerStack", {
      stage: STAGE,
      stacks: [BrokerStack, ExampleConsumerStack],
      shellEnv: [...Object.values(Env), ...Object.values(ConsumerEnv), ...Object.values(StackEnv), "NEWSTORE_TENANT"],
      setEnv: { NEWSTORE_TENANT: TENANT },
  });
  beforeAll(() => {
    [broker, consumer] = synthesized() as [Template, Template];
    exports = exportsOf(broker);
  });

  const busId = () => only(broker.findResources("AWS::Events::EventBus"), "event bus")[0];
  const replyQueue = () => only(consumer.findResources("AWS::SQS::Queue"), "reply queue");
  const fn = () => functionByHandler(consumer, "example-consumer.handler");
  const rules = () => Object.entries(consumer.findResources("AWS::Events::Rule"));

  it("creates a standard reply queue that drops replies nobody took", () => {
    const [, queue] = replyQueue();
    expect(queue.Properties).not.toHaveProperty("FifoQueue");
    expect(queue.Properties.MessageRetentionPeriod).toBe(consumerDefaults.replyRetentionSeconds);
    expect(queue.Properties.MessageRetentionPeriod).toBe(900);
  });

  it("routes its replies and its clients' rotations from the broker's bus into the queue", () => {
    const [queueId] = replyQueue();
    const found = rules();
    expect(found).toHaveLength(2);
    for (const [ruleId, rule] of found) {
      expect(render(rule.Properties.EventBusName, exports), "on the broker's bus").toBe(`\${${busId()}}`);
      expect(rule.Properties.Targets).toHaveLength(1);
      const [target] = rule.Properties.Targets;
      expect(render(target.Arn)).toBe(`\${${queueId}.Arn}`);
      // The SDK reads EventBridge's envelope, as it gets it locally from moto.
      expect(target).not.toHaveProperty("InputTransformer");
      expect(target).not.toHaveProperty("Input");
      expect(target).not.toHaveProperty("InputPath");
      expect(queueAllowsRule(consumer, queueId, ruleId), `the queue policy lets ${ruleId} deliver`).toBe(true);
    }
    const patterns = found.map(([, rule]) => rule.Properties.EventPattern);
    const reply = replyPattern("example-consumer");
    const rotation = rotationPattern(["example-client"]);
    expect(patterns).toHaveLength(2);
    expect(patterns).toContainEqual(reply);
    expect(patterns).toContainEqual(rotation);
    // EventBridge's spelling, and the values DESIGN names.
    expect(reply).toEqual({
      source: ["newstore-auth.broker"],
      "detail-type": ["token.ready", "token.failed"],
      detail: { requester: ["example-consumer"] },
    });
    expect(rotation).toEqual({
      source: ["newstore-auth.broker"],
      "detail-type": ["token.rotated", "token.revoked"],
      detail: { clientId: ["example-client"] },
    });
  });

  it("runs the example on nodejs20.x without X-Ray", () => {
    const [, f] = fn();
    expect(f.Properties.Runtime).toBe("nodejs20.x");
    expect(f.Properties.TracingConfig?.Mode ?? "PassThrough").toBe("PassThrough");
    expect(f.Properties.Timeout * 1000).toBeGreaterThan(consumerDefaults.timeoutMs);
  });

  it("grants the function exactly its token, decrypt on the broker's key, PutEvents on the bus and its own queue", () => {
    const [queueId] = replyQueue();
    const [roleId, role] = roleOf(consumer, fn()[1]);
    const [keyId] = only(broker.findResources("AWS::KMS::Key"), "the broker's KMS key");
    expectConsumerGrants(roleStatements(consumer, roleId, exports), {
      tokenArns: [`arn:${PARTITION}:ssm:${REGION}:${ACCOUNT}:parameter/newstore-auth/consumer-test/tokens/example-client`],
      busArn: `\${${busId()}.Arn}`,
      queueArn: `\${${queueId}.Arn}`,
      keyArn: `\${${keyId}.Arn}`, // imported from the broker's stack
      partition: PARTITION,
      region: REGION,
      account: ACCOUNT,
    });
    expect(role.Properties.ManagedPolicyArns.map((arn: unknown) => render(arn))).toEqual([
      `arn:${PARTITION}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole`,
    ]);
  });

  it("sets the environment the SDK reads", () => {
    const [queueId] = replyQueue();
    const variables = fn()[1].Properties.Environment.Variables;
    expect(variables[ConsumerEnv.requester]).toBe("example-consumer");
    expect(render(variables[ConsumerEnv.busName], exports)).toBe(`\${${busId()}}`);
    expect(render(variables[ConsumerEnv.replyQueueUrl])).toBe(`\${${queueId}}`);
    expect(variables[ConsumerEnv.parameterPrefix]).toBe(names.parameterPrefix);
    expect(variables[ConsumerEnv.parameterPrefix]).toBe("/newstore-auth/consumer-test");
    expect(variables.NEWSTORE_TENANT).toBe(TENANT); // copied from the deploying shell
  });
});

describe("TokenConsumer (plain CDK)", () => {
  const setup = () => {
    const stack = new CdkStack(new CdkApp(), "Integration");
    const bus = new events.EventBus(stack, "Bus");
    const newFunction = (id: string) =>
      new lambda.Function(stack, id, {
        runtime: lambda.Runtime.NODEJS_20_X,
        handler: "index.handler",
        code: lambda.Code.fromInline("exports.handler = async () => ({})"),
      });
    const props = (overrides: Partial<TokenConsumerProps> = {}): TokenConsumerProps => ({
      name: "orders-sync",
      clientIds: ["client-a", "client-b"],
      bus,
      parameterPrefix: "/newstore-auth/prod",
      ...overrides,
    });
    return { stack, bus, newFunction, props };
  };

  it("rejects client ids that are not ClientIds", () => {
    const { stack, props } = setup();
    expect(() => new TokenConsumer(stack, "Slash", props({ clientIds: ["client-a", "bad/client"] }))).toThrow(
      /client id "bad\/client" is invalid/,
    );
    expect(() => new TokenConsumer(stack, "Space", props({ clientIds: ["with space"] }))).toThrow(/client id "with space" is invalid/);
    expect(() => new TokenConsumer(stack, "Blank", props({ clientIds: [""] }))).toThrow(/client id "" is invalid/);
  });

  it("rejects an empty client list", () => {
    const { stack, props } = setup();
    expect(() => new TokenConsumer(stack, "Empty", props({ clientIds: [] }))).toThrow(/clientIds is empty/);
  });

  it("rejects a name that is not a Requester, and a relative prefix", () => {
    const { stack, props } = setup();
    expect(() => new TokenConsumer(stack, "Name", props({ name: "orders sync" }))).toThrow(/"orders sync" is not a valid requester/);
    expect(() => new TokenConsumer(stack, "NoName", props({ name: "" }))).toThrow(/not a valid requester/);
    expect(() => new TokenConsumer(stack, "Prefix", props({ parameterPrefix: "newstore-auth/prod" }))).toThrow(
      /parameterPrefix must start with '\/'/,
    );
  });

  it("gives plain lambda.Functions the same grants and environment, also when bound later", () => {
    const { stack, newFunction, props } = setup();
    const first = newFunction("First");
    const consumer = new TokenConsumer(stack, "Consumer", props({ functions: [first] }));
    const later = newFunction("Later");
    consumer.bind(later);
    expect(consumer.name).toBe("orders-sync");
    expect(consumer.clientIds).toEqual(["client-a", "client-b"]);

    const template = Template.fromStack(stack);
    const [busId] = only(template.findResources("AWS::Events::EventBus"), "bus");
    const [queueId] = only(template.findResources("AWS::SQS::Queue"), "reply queue");
    expect(render(stack.resolve(consumer.queue.queueArn))).toBe(`\${${queueId}.Arn}`);
    const patterns = Object.values(template.findResources("AWS::Events::Rule")).map((r) => r.Properties.EventPattern);
    expect(patterns).toHaveLength(2);
    expect(patterns).toContainEqual(replyPattern("orders-sync"));
    expect(patterns).toContainEqual(rotationPattern(["client-a", "client-b"]));

    const functions = Object.entries(template.findResources("AWS::Lambda::Function"));
    expect(functions).toHaveLength(2);
    for (const [fnId, fn] of functions) {
      const [roleId] = roleOf(template, fn);
      expectConsumerGrants(roleStatements(template, roleId), {
        tokenArns: ["client-a", "client-b"].map(
          (clientId) => `arn:${PARTITION}:ssm:${REGION}:${ACCOUNT}:parameter/newstore-auth/prod/tokens/${clientId}`,
        ),
        busArn: `\${${busId}.Arn}`,
        queueArn: `\${${queueId}.Arn}`,
        keyArn: "aws/ssm", // no key given
        partition: PARTITION,
        region: REGION,
        account: ACCOUNT,
      });
      const variables = fn.Properties.Environment.Variables;
      expect(variables[ConsumerEnv.requester], fnId).toBe("orders-sync");
      expect(render(variables[ConsumerEnv.busName]), fnId).toBe(`\${${busId}}`);
      expect(render(variables[ConsumerEnv.replyQueueUrl]), fnId).toBe(`\${${queueId}}`);
      expect(variables[ConsumerEnv.parameterPrefix], fnId).toBe("/newstore-auth/prod");
    }
  });

  it("decrypts only with the broker's key when given one (e.g. from its KmsKeyArn output)", () => {
    const { stack, newFunction, props } = setup();
    const keyArn = "arn:aws:kms:eu-central-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const key = kms.Key.fromKeyArn(stack, "BrokerKey", keyArn);
    const consumer = new TokenConsumer(stack, "Consumer", props({ functions: [newFunction("Fn")], key }));
    expect(consumer.key).toBe(key);

    const template = Template.fromStack(stack);
    const [busId] = only(template.findResources("AWS::Events::EventBus"), "bus");
    const [queueId] = only(template.findResources("AWS::SQS::Queue"), "reply queue");
    const [, fn] = only(template.findResources("AWS::Lambda::Function"), "function");
    const [roleId] = roleOf(template, fn);
    const statements = roleStatements(template, roleId);
    expectConsumerGrants(statements, {
      tokenArns: ["client-a", "client-b"].map(
        (clientId) => `arn:${PARTITION}:ssm:${REGION}:${ACCOUNT}:parameter/newstore-auth/prod/tokens/${clientId}`,
      ),
      busArn: `\${${busId}.Arn}`,
      queueArn: `\${${queueId}.Arn}`,
      keyArn,
      partition: PARTITION,
      region: REGION,
      account: ACCOUNT,
    });
    // A consumer's grant is its own IAM policy: it adds nothing to a key policy (it has none here).
    expect(template.findResources("AWS::KMS::Key")).toEqual({});
    expect(statements.flatMap((s) => s.Action)).not.toContain("kms:Encrypt");
  });
});
