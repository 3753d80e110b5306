// Security of the stack (issue 7), on one synth of the real SST app (BrokerStack and the example
// consumer next to it, functions built, no AWS calls): the stage's customer-managed KMS key and
// its policy, every role's EXACT permissions (no statement more, none less), that consumers can
// neither read credentials nor encrypt, the key in the writers' environment, the admin API's
// default authorization and no CORS, and the alarms. The IAM option of the admin API and the
// alarm topic need other shell settings, so another synth: admin-iam.test.ts.
import type { Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { AdminEnv, ConsumerEnv, Env, namesFor } from "@newstore-auth/core/settings";
import { BrokerStack } from "../BrokerStack.js";
import { ExampleConsumerStack } from "../ExampleConsumerStack.js";
import { StackEnv } from "../options.js";
import {
  ACCOUNT,
  ADMIN_ROUTES,
  apiMethods,
  exportsOf,
  expectNoCors,
  functionByHandler,
  grants,
  list,
  only,
  PARTITION,
  REGION,
  render,
  renderDeep,
  roleOf,
  roleStatements,
  synthesizeInFile,
  type Exports,
  type Grant,
  type Json,
} from "./template.js";

// A stage of its own: the other stack tests build the same functions in parallel (see synthesize()).
const STAGE = "security-test";
const names = namesFor(STAGE);

// A key id left in the deploying shell (e.g. from running the local runtime) must not replace the
// stack's own key in the functions' environment.
const SHELL_KEY = "alias/some-key-from-the-deploying-shell";

let broker: Template;
let consumer: Template;
let exports: Exports;
const synthesized = synthesizeInFile("BrokerStack + ExampleConsumerStack (security)", {
  stage: STAGE,
  stacks: [BrokerStack, ExampleConsumerStack],
  shellEnv: [...Object.values(Env), ...Object.values(AdminEnv), ...Object.values(ConsumerEnv), ...Object.values(StackEnv), "NEWSTORE_TENANT"],
  setEnv: { [Env.kmsKeyId]: SHELL_KEY },
});
beforeAll(() => {
  [broker, consumer] = synthesized() as [Template, Template];
  exports = exportsOf(broker);
});

const ssm = (name: string) => `arn:${PARTITION}:ssm:${REGION}:${ACCOUNT}:parameter${name}`;
const credentials = ssm(`${names.parameterPrefix}/credentials/*`);
const credentialsPath = ssm(`${names.parameterPrefix}/credentials`);
const tokens = ssm(`${names.parameterPrefix}/tokens/*`);
const usage = ssm(`${names.parameterPrefix}/usage/*`);
const usagePath = ssm(`${names.parameterPrefix}/usage`);
const viaSsm = { StringEquals: { "kms:ViaService": `ssm.${REGION}.amazonaws.com` } };
const WRITER_KEY_ACTIONS = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"];
const LAMBDA_LOGS = `arn:${PARTITION}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole`;

const key = () => only(broker.findResources("AWS::KMS::Key"), "KMS key");
const keyArn = () => `\${${key()[0]}.Arn}`;
const bus = () => only(broker.findResources("AWS::Events::EventBus"), "event bus");
const brokerQueue = () =>
  only(broker.findResources("AWS::SQS::Queue", { Properties: { QueueName: names.requestQueueName } }), "broker queue");
const deadLetterQueue = () =>
  only(broker.findResources("AWS::SQS::Queue", { Properties: { QueueName: names.deadLetterQueueName } }), "dead-letter queue");
const brokerFn = () => functionByHandler(broker, "broker.handler");
const adminFn = () => functionByHandler(broker, "admin.handler");
const consumerFn = () => functionByHandler(consumer, "example-consumer.handler");
const brokerRole = () => roleOf(broker, brokerFn()[1]);
const adminRole = () => roleOf(broker, adminFn()[1]);
const consumerRole = () => roleOf(consumer, consumerFn()[1]);
const outputs = () => broker.toJSON().Outputs as Record<string, { Value: unknown }>;

const allow = (Action: string[], Resource: string[], Condition?: unknown): Grant => ({
  Effect: "Allow",
  Action,
  Resource,
  ...(Condition === undefined ? {} : { Condition }),
});

/** A role's whole grant, checked to be nothing but its statements and Lambda's logging policy. */
function roleGrants(template: Template, [roleId, role]: ReturnType<typeof roleOf>, rendering: Exports = {}): Grant[] {
  expect(list(role.Properties.ManagedPolicyArns).map((arn) => render(arn))).toEqual([LAMBDA_LOGS]);
  expect(role.Properties).not.toHaveProperty("PermissionsBoundary");
  const trust = list(role.Properties.AssumeRolePolicyDocument.Statement) as Json[];
  expect(trust).toEqual([{ Action: "sts:AssumeRole", Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" } }]);
  const statements = roleStatements(template, roleId, rendering);
  for (const s of statements) {
    expect(s.raw, "NotAction/NotResource/NotPrincipal are broad by nature").not.toHaveProperty("NotAction");
    expect(s.raw).not.toHaveProperty("NotResource");
  }
  return grants(statements);
}

describe("the stage's KMS key", () => {
  it("is one symmetric customer-managed key with rotation on, kept when the stack goes", () => {
    const [, resource] = key();
    expect(resource.Properties.EnableKeyRotation).toBe(true);
    expect(resource.Properties.KeySpec ?? "SYMMETRIC_DEFAULT").toBe("SYMMETRIC_DEFAULT");
    expect(resource.Properties.KeyUsage ?? "ENCRYPT_DECRYPT").toBe("ENCRYPT_DECRYPT");
    expect(resource.Properties.Enabled ?? true).toBe(true);
    // Deleting it would make every SecureString of the stage unreadable.
    expect(resource.DeletionPolicy).toBe("Retain");
    expect(resource.UpdateReplacePolicy).toBe("Retain");
    // The consumer's stack has no key of its own: it uses the broker's.
    expect(consumer.findResources("AWS::KMS::Key")).toEqual({});
  });

  it("is aliased alias/newstore-auth-{stage}, and both are outputs", () => {
    const [keyId] = key();
    const [, alias] = only(broker.findResources("AWS::KMS::Alias"), "KMS alias");
    expect(alias.Properties.AliasName).toBe(`alias/newstore-auth-${STAGE}`);
    expect(render(alias.Properties.TargetKeyId)).toBe(`\${${keyId}.Arn}`);
    expect(render(outputs().KmsKeyArn?.Value)).toBe(keyArn());
    expect(outputs().KmsKeyAlias?.Value).toBe("alias/newstore-auth-security-test");
  });

  it("has a policy of exactly: the account root (IAM delegation), the broker's and the admin's roles via SSM", () => {
    const [, resource] = key();
    const statements = list(resource.Properties.KeyPolicy.Statement) as Json[];
    const shape = (s: Json) => ({
      Principal: renderDeep(s.Principal),
      ...grants([
        {
          Effect: s.Effect as string,
          Action: list(s.Action) as string[],
          Resource: list(s.Resource) as string[],
          Condition: renderDeep(s.Condition),
        },
      ])[0]!,
    });
    const byJson = (a: unknown, b: unknown) => JSON.stringify(a).localeCompare(JSON.stringify(b));
    expect(statements.map(shape).sort(byJson)).toEqual(
      [
        // CDK's default: without it no IAM policy could grant use of the key (consumers' grants).
        { Principal: { AWS: `arn:${PARTITION}:iam::${ACCOUNT}:root` }, ...allow(["kms:*"], ["*"]) },
        { Principal: { AWS: `\${${brokerRole()[0]}.Arn}` }, ...allow(WRITER_KEY_ACTIONS, ["*"], viaSsm) },
        { Principal: { AWS: `\${${adminRole()[0]}.Arn}` }, ...allow(WRITER_KEY_ACTIONS, ["*"], viaSsm) },
      ].sort(byJson),
    );
    for (const s of statements) {
      expect(s, "no NotPrincipal, no NotAction").not.toHaveProperty("NotPrincipal");
      expect(s).not.toHaveProperty("NotAction");
      expect(JSON.stringify(s.Principal), "no anonymous principal").not.toMatch(/"\*"/);
    }
  });
});

describe("each role's exact permissions", () => {
  it("the broker: reads credentials; reads, writes, deletes tokens and usage; the key via SSM; its bus; its queue", () => {
    const [busId] = bus();
    const [queueId] = brokerQueue();
    expect(roleGrants(broker, brokerRole())).toEqual(
      grants([
        allow(["ssm:GetParameter"], [credentials]),
        allow(["ssm:GetParameter", "ssm:PutParameter"], [tokens]),
        allow(["ssm:GetParameter", "ssm:PutParameter"], [usage]),
        allow(["ssm:GetParametersByPath"], [usagePath]),
        allow(["ssm:DeleteParameter"], [tokens, usage]),
        allow(WRITER_KEY_ACTIONS, [keyArn()], viaSsm),
        allow(["events:PutEvents"], [`\${${busId}.Arn}`]),
        // The SQS event source's grant (CDK's): consumes its own queue, sends nothing.
        allow(
          ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
          [`\${${queueId}.Arn}`],
        ),
      ]),
    );
  });

  it("the admin API: writes and lists credentials, reads tokens, the key via SSM, sends to the broker's queue", () => {
    const [queueId] = brokerQueue();
    expect(roleGrants(broker, adminRole())).toEqual(
      grants([
        allow(["ssm:DeleteParameter", "ssm:GetParameter", "ssm:PutParameter"], [credentials]),
        allow(["ssm:GetParametersByPath"], [credentialsPath]),
        allow(["ssm:GetParameter", "ssm:GetParameters"], [tokens]),
        allow(WRITER_KEY_ACTIONS, [keyArn()], viaSsm),
        allow(["sqs:SendMessage"], [`\${${queueId}.Arn}`]),
      ]),
    );
  });

  it("the example consumer: its client's token, decrypt on the broker's key via SSM, PutEvents, its reply queue", () => {
    const [busId] = bus();
    const [replyQueueId] = only(consumer.findResources("AWS::SQS::Queue"), "reply queue");
    expect(roleGrants(consumer, consumerRole(), exports)).toEqual(
      grants([
        allow(["ssm:GetParameter"], [ssm(`${names.parameterPrefix}/tokens/example-client`)]),
        allow(["kms:Decrypt"], [keyArn()], viaSsm),
        allow(["events:PutEvents"], [`\${${busId}.Arn}`]),
        allow(
          ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
          [`\${${replyQueueId}.Arn}`],
        ),
      ]),
    );
  });

  it("no other role or policy in either stack grants anything", () => {
    const roleIds = (template: Template) => Object.keys(template.findResources("AWS::IAM::Role")).sort();
    // Besides ours, only SST's own custom-resource handler (each SST stack has one, for its
    // metadata), which may log and nothing else; any other helper role (log retention, CDK custom
    // resources) would show here.
    const sstHandlerRole = (template: Template) => {
      const [, handler] = only(
        Object.fromEntries(
          Object.entries(template.findResources("AWS::Lambda::Function")).filter(([id]) => id.startsWith("CustomResourceHandler")),
        ),
        "SST's custom-resource handler",
      );
      const role = roleOf(template, handler);
      expect(roleGrants(template, role), "SST's handler: logs only").toEqual([]);
      return role[0];
    };
    expect(roleIds(broker)).toEqual([brokerRole()[0], adminRole()[0], sstHandlerRole(broker)].sort());
    expect(roleIds(consumer)).toEqual([consumerRole()[0], sstHandlerRole(consumer)].sort());
    for (const template of [broker, consumer]) {
      for (const [id, policy] of Object.entries(template.findResources("AWS::IAM::Policy"))) {
        expect(list(policy.Properties.Roles).length, id).toBe(1);
        expect(policy.Properties, id).not.toHaveProperty("Users");
        expect(policy.Properties, id).not.toHaveProperty("Groups");
      }
      expect(template.findResources("AWS::IAM::ManagedPolicy")).toEqual({});
      expect(template.findResources("AWS::IAM::User")).toEqual({});
    }
  });
});

describe("consumers", () => {
  const statements = () => roleStatements(consumer, consumerRole()[0], exports);

  it("cannot read credentials/*: no statement names them", () => {
    const all = statements();
    expect(all.length).toBeGreaterThan(0);
    for (const s of all) {
      for (const resource of s.Resource) expect(resource, JSON.stringify(s.raw)).not.toContain("credentials");
      // Nor a wildcard that would cover them.
      for (const resource of s.Resource) expect(resource, JSON.stringify(s.raw)).not.toMatch(/parameter\/.*\*|:\*$|^\*$/);
    }
  });

  it("only decrypt: no kms:Encrypt, no GenerateDataKey, no key administration", () => {
    const kms = statements().flatMap((s) => s.Action.filter((a) => a.startsWith("kms:")));
    expect(kms).toEqual(["kms:Decrypt"]);
    expect(kms).not.toContain("kms:Encrypt");
    // And the broker's key policy names no consumer: their grant is their own IAM statement.
    expect(JSON.stringify(key()[1].Properties.KeyPolicy)).not.toContain(consumerRole()[0]);
  });

  it("write nothing in SSM", () => {
    const ssmActions = statements().flatMap((s) => s.Action.filter((a) => a.startsWith("ssm:")));
    expect(ssmActions).toEqual(["ssm:GetParameter"]);
  });
});

describe("the writers' environment", () => {
  it("the broker and the admin API encrypt with the stage's key (its ARN), never the shell's", () => {
    for (const [, fn] of [brokerFn(), adminFn()]) {
      const variables = fn.Properties.Environment.Variables as Record<string, unknown>;
      expect(render(variables[Env.kmsKeyId])).toBe(keyArn());
      expect(variables[Env.kmsKeyId]).not.toBe(SHELL_KEY);
    }
    expect(JSON.stringify(broker.toJSON())).not.toContain(SHELL_KEY);
  });

  it("the consumer gets no key id: it only reads, and SSM finds the key itself", () => {
    const variables = consumerFn()[1].Properties.Environment.Variables as Record<string, unknown>;
    expect(variables).not.toHaveProperty(Env.kmsKeyId);
  });
});

describe("the admin API by default (NEWSTORE_AUTH_ADMIN_AUTH unset)", () => {
  it("requires the API key and no IAM on every method but GET /health, which needs neither", () => {
    const methods = apiMethods(broker);
    expect(methods.map((m) => m.route).sort()).toEqual([...ADMIN_ROUTES].sort());
    for (const { route, properties } of methods) {
      expect(properties.AuthorizationType, route).toBe("NONE");
      expect(properties.ApiKeyRequired, route).toBe(route !== "GET /health");
      expect(properties, route).not.toHaveProperty("AuthorizerId");
    }
    expect(broker.findResources("AWS::ApiGateway::Authorizer")).toEqual({});
    expect(outputs().AdminApiAuthorization?.Value).toBe("api-key");
    expect(outputs()).not.toHaveProperty("AdminApiInvokeArn");
  });

  it("has no CORS: no OPTIONS method, no Access-Control header anywhere", () => {
    expectNoCors(broker);
  });

  it("has no resource policy opening it to other accounts", () => {
    const [, api] = only(broker.findResources("AWS::ApiGateway::RestApi"), "REST API");
    expect(api.Properties).not.toHaveProperty("Policy");
  });
});

describe("the alarms", () => {
  const alarms = () => broker.findResources("AWS::CloudWatch::Alarm");
  const alarm = (metricName: string) =>
    only(broker.findResources("AWS::CloudWatch::Alarm", { Properties: { MetricName: metricName } }), `${metricName} alarm`);
  /** What all three share: one 5-minute period at or above 1 alarms; no data is not a breach. */
  const expectOneIn5Minutes = (properties: Json) => {
    expect(properties.Period).toBe(300);
    expect(properties.EvaluationPeriods).toBe(1);
    expect(properties.DatapointsToAlarm ?? 1).toBe(1);
    expect(properties.Threshold).toBe(1);
    expect(properties.ComparisonOperator).toBe("GreaterThanOrEqualToThreshold");
    expect(properties.TreatMissingData).toBe("notBreaching");
    // Without NEWSTORE_AUTH_ALARM_EMAIL, nobody is notified (admin-iam.test.ts sets it).
    expect(properties).not.toHaveProperty("AlarmActions");
    expect(properties).not.toHaveProperty("Metrics");
  };

  it("are exactly three, and there is no topic without an alarm email", () => {
    expect(Object.keys(alarms())).toHaveLength(3);
    expect(broker.findResources("AWS::SNS::Topic")).toEqual({});
    expect(outputs()).not.toHaveProperty("AlarmTopicArn");
    expect(consumer.findResources("AWS::CloudWatch::Alarm")).toEqual({});
  });

  it("DLQ depth: the broker DLQ's ApproximateNumberOfMessagesVisible (maximum) ≥ 1", () => {
    const [dlqId] = deadLetterQueue();
    const [alarmId, { Properties: p }] = alarm("ApproximateNumberOfMessagesVisible");
    expect(p.Namespace).toBe("AWS/SQS");
    expect(p.Statistic).toBe("Maximum");
    expect(renderDeep(p.Dimensions)).toEqual([{ Name: "QueueName", Value: `\${${dlqId}.QueueName}` }]);
    expectOneIn5Minutes(p);
    expect(p.AlarmName).toBe(`newstore-auth-${STAGE}-broker-dlq-depth`);
    expect(render(outputs().DeadLetterAlarmName?.Value)).toBe(`\${${alarmId}}`);
  });

  it("broker errors: the broker function's Errors (sum) ≥ 1", () => {
    const [fnId] = brokerFn();
    const [alarmId, { Properties: p }] = alarm("Errors");
    expect(p.Namespace).toBe("AWS/Lambda");
    expect(p.Statistic).toBe("Sum");
    expect(renderDeep(p.Dimensions)).toEqual([{ Name: "FunctionName", Value: `\${${fnId}}` }]);
    expectOneIn5Minutes(p);
    expect(p.AlarmName).toBe(`newstore-auth-${STAGE}-broker-errors`);
    expect(render(outputs().BrokerErrorsAlarmName?.Value)).toBe(`\${${alarmId}}`);
  });

  it("broker throttles: the broker function's Throttles (sum) ≥ 1", () => {
    const [fnId] = brokerFn();
    const [alarmId, { Properties: p }] = alarm("Throttles");
    expect(p.Namespace).toBe("AWS/Lambda");
    expect(p.Statistic).toBe("Sum");
    expect(renderDeep(p.Dimensions)).toEqual([{ Name: "FunctionName", Value: `\${${fnId}}` }]);
    expectOneIn5Minutes(p);
    expect(p.AlarmName).toBe(`newstore-auth-${STAGE}-broker-throttles`);
    expect(render(outputs().BrokerThrottlesAlarmName?.Value)).toBe(`\${${alarmId}}`);
  });
});
