// Synthesizes the real SST app (functions built, no AWS calls) and checks the template against
// DESIGN: the serialization chain, the FIFO settings, the broker's least-privilege role and the
// operator CLI's reply queue. The admin API has its own file (admin-api.test.ts).
import { Match, type Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import {
  AdminEnv,
  brokerQueue,
  CLI_REQUESTER,
  consumerDefaults,
  Env,
  InternalDetailType,
  namesFor,
  refreshDueMessage,
  refreshSchedule,
  replyPattern,
} from "@newstore-auth/core/settings";
import { BrokerStack } from "../BrokerStack.js";
import { StackEnv } from "../options.js";
import {
  ACCOUNT,
  functionByHandler,
  list,
  only,
  PARTITION,
  queueAllowsRule,
  REGION,
  render,
  roleOf,
  roleStatements,
  synthesizeInFile,
  type Statement,
} from "./template.js";

const STAGE = "test";
const names = namesFor(STAGE);

// What the "deploying shell" sets (the stack copies tuning keys from it, and only those set).
const shellTuning = { [Env.refreshAheadSeconds]: "900", [Env.marginSeconds]: "240" };

let template: Template;
// The stack reads Env keys and the admin API's options from the deploying shell.
const synthesized = synthesizeInFile("BrokerStack", {
  stage: STAGE,
  stacks: [BrokerStack],
  shellEnv: [...Object.values(Env), ...Object.values(AdminEnv), ...Object.values(StackEnv)],
  setEnv: shellTuning,
});
beforeAll(() => {
  [template] = synthesized() as [Template];
});

describe("BrokerStack", () => {
  const bus = () => only(template.findResources("AWS::Events::EventBus"), "event bus");
  const queue = () =>
    only(template.findResources("AWS::SQS::Queue", { Properties: { QueueName: names.requestQueueName } }), "request queue");
  const deadLetterQueue = () =>
    only(template.findResources("AWS::SQS::Queue", { Properties: { QueueName: names.deadLetterQueueName } }), "dead-letter queue");
  const broker = () => functionByHandler(template, "broker.handler");

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
      template.findResources("AWS::Events::Rule", {
        Properties: { EventBusName: { Ref: busId }, EventPattern: { "detail-type": ["token.requested"] } },
      }),
      "token.requested rule on the bus",
    );
    expect(rule.Properties.EventPattern).toEqual({ "detail-type": ["token.requested"] });
    expect(rule.Properties.Targets).toHaveLength(1);
    const [target] = rule.Properties.Targets;
    expect(render(target.Arn)).toBe(`\${${queueId}.Arn}`);
    expect(target.SqsParameters.MessageGroupId).toBe(brokerQueue.messageGroupId);

    expect(queueAllowsRule(template, queueId, ruleId), "the queue policy lets the rule deliver").toBe(true);
  });

  it("has exactly two rules on the bus: requests to the broker, the CLI's replies", () => {
    const [busId] = bus();
    const onBus = Object.values(template.findResources("AWS::Events::Rule")).filter(
      (rule) => rule.Properties.EventBusName !== undefined,
    );
    expect(onBus.map((rule) => render(rule.Properties.EventBusName))).toEqual([`\${${busId}}`, `\${${busId}}`]);
    expect(onBus.map((rule) => rule.Properties.EventPattern)).toEqual(
      expect.arrayContaining([{ "detail-type": ["token.requested"] }, replyPattern(CLI_REQUESTER)]),
    );
  });

  describe("the operator CLI's reply queue", () => {
    const cliQueue = () =>
      only(template.findResources("AWS::SQS::Queue", { Properties: { QueueName: names.cliReplyQueueName } }), "CLI reply queue");

    it("is a standard queue that drops replies nobody took", () => {
      const [, q] = cliQueue();
      expect(q.Properties.QueueName).toBe("newstore-auth-test-cli-replies");
      expect(q.Properties).not.toHaveProperty("FifoQueue");
      expect(q.Properties.MessageRetentionPeriod).toBe(consumerDefaults.replyRetentionSeconds);
      expect(q.Properties.MessageRetentionPeriod).toBe(900);
    });

    it("gets the broker's replies to the CLI's requester from the bus, as EventBridge's envelope", () => {
      const [busId] = bus();
      const [queueId] = cliQueue();
      const [ruleId, rule] = only(
        template.findResources("AWS::Events::Rule", { Properties: { EventPattern: replyPattern(CLI_REQUESTER) } }),
        "CLI reply rule",
      );
      expect(rule.Properties.EventPattern).toEqual({
        source: ["newstore-auth.broker"],
        "detail-type": ["token.ready", "token.failed"],
        detail: { requester: ["newstore-auth-cli"] },
      });
      expect(render(rule.Properties.EventBusName)).toBe(`\${${busId}}`);
      expect(rule.Properties.Targets).toHaveLength(1);
      const [target] = rule.Properties.Targets;
      expect(render(target.Arn)).toBe(`\${${queueId}.Arn}`);
      expect(target).not.toHaveProperty("InputTransformer");
      expect(target).not.toHaveProperty("Input");
      expect(target).not.toHaveProperty("InputPath");
      expect(queueAllowsRule(template, queueId, ruleId), "the queue policy lets the rule deliver").toBe(true);
    });

    it("is granted to no function (operators' own identities read it)", () => {
      const [queueId] = cliQueue();
      const policies = JSON.stringify(template.findResources("AWS::IAM::Policy"));
      expect(policies).not.toContain(queueId);
      const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
      expect(render(outputs.CliReplyQueueUrl?.Value)).toBe(`\${${queueId}}`);
    });
  });

  it("puts token.refresh-due into the same queue on the refresh schedule", () => {
    const [queueId] = queue();
    const [ruleId, rule] = only(
      template.findResources("AWS::Events::Rule", { Properties: { ScheduleExpression: Match.anyValue() } }),
      "schedule rule",
    );
    expect(rule.Properties.ScheduleExpression).toBe(`rate(${refreshSchedule.everyMinutes} minutes)`);
    expect(rule.Properties.ScheduleExpression).toBe("rate(5 minutes)");
    expect(rule.Properties, "schedules run on the default bus").not.toHaveProperty("EventBusName");
    expect(rule.Properties.State).toBe("ENABLED");
    expect(rule.Properties.Targets).toHaveLength(1);
    const [target] = rule.Properties.Targets;
    expect(render(target.Arn)).toBe(`\${${queueId}.Arn}`);
    expect(target.SqsParameters.MessageGroupId).toBe(brokerQueue.messageGroupId);
    expect(queueAllowsRule(template, queueId, ruleId), "the queue policy lets the schedule deliver").toBe(true);

    // EventBridge fills the body from the scheduled event: the same shape as the settings' message.
    const { InputPathsMap: paths, InputTemplate: body } = target.InputTransformer;
    expect(body).toContain(InternalDetailType.refreshDue);
    expect(body).toContain("token.refresh-due");
    expect(paths).toEqual({ id: "$.id", time: "$.time" });
    const scheduled = { id: "7bf73129-1428-4cd3-a780-95db273d1602", time: "2024-05-01T12:05:00Z" };
    const filled = (body as string).replace(/<(\w+)>/g, (_, name: string) => {
      const field = (paths[name] as string).replace(/^\$\./, "") as keyof typeof scheduled;
      return JSON.stringify(scheduled[field]); // EventBridge quotes a string it puts outside quotes
    });
    expect(JSON.parse(filled)).toEqual(refreshDueMessage(scheduled.id, scheduled.time));
  });

  it("sets the broker's environment from the names", () => {
    const [, fn] = broker();
    const [, busResource] = bus();
    const variables = fn.Properties.Environment.Variables;
    expect(variables[Env.stage]).toBe("test");
    expect(variables[Env.busName]).toBe("newstore-auth-test");
    expect(variables[Env.busName]).toBe(busResource.Properties.Name);
    expect(variables[Env.parameterPrefix]).toBe("/newstore-auth/test");
    const [keyId] = only(template.findResources("AWS::KMS::Key"), "KMS key");
    expect(render(variables[Env.kmsKeyId]), "SecureStrings under the stage's key").toBe(`\${${keyId}.Arn}`);
  });

  it("copies the broker's tuning from the deploying shell only when set there", () => {
    const [, fn] = broker();
    const variables = fn.Properties.Environment.Variables;
    // beforeAll set exactly these two in the "shell" and removed every other Env key.
    expect(variables[Env.refreshAheadSeconds]).toBe(shellTuning[Env.refreshAheadSeconds]);
    expect(variables[Env.marginSeconds]).toBe(shellTuning[Env.marginSeconds]);
    expect(variables).not.toHaveProperty(Env.idleWindowSeconds);
    expect(variables).not.toHaveProperty(Env.tokenUrl);
    expect(variables).not.toHaveProperty(Env.rejectionHoldSeconds);
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
    const role = () => roleOf(template, broker()[1]);
    const statements = (): Statement[] => roleStatements(template, role()[0]);
    const credentials = `arn:${PARTITION}:ssm:${REGION}:${ACCOUNT}:parameter/newstore-auth/test/credentials/*`;
    const tokens = `arn:${PARTITION}:ssm:${REGION}:${ACCOUNT}:parameter/newstore-auth/test/tokens/*`;
    const usagePath = `arn:${PARTITION}:ssm:${REGION}:${ACCOUNT}:parameter/newstore-auth/test/usage`;
    const usage = `${usagePath}/*`;

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
      expect(list(resource.Properties.ManagedPolicyArns).map((arn) => render(arn))).toEqual([
        `arn:${PARTITION}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole`,
      ]);
    });

    it("reads credentials, reads, writes and deletes tokens and usage, lists usage, nothing else in SSM", () => {
      const ssm = statements().filter((s) => s.Action.some((a) => a.startsWith("ssm:")));
      const allowed = ["ssm:GetParameter", "ssm:PutParameter", "ssm:DeleteParameter", "ssm:GetParametersByPath"];
      for (const s of ssm) expect(s.Action.every((a) => allowed.includes(a)), JSON.stringify(s.raw)).toBe(true);
      const resourcesOf = (action: string) =>
        [...new Set(ssm.filter((s) => s.Action.includes(action)).flatMap((s) => s.Resource))].sort();
      expect(resourcesOf("ssm:GetParameter")).toEqual([credentials, tokens, usage].sort());
      expect(resourcesOf("ssm:PutParameter")).toEqual([tokens, usage].sort());
      // It removes a client's token and usage record when the admin API deletes its credentials;
      // the credentials themselves are the admin API's to delete.
      expect(resourcesOf("ssm:DeleteParameter")).toEqual([tokens, usage].sort());
      const deletes = ssm.filter((s) => s.Action.includes("ssm:DeleteParameter"));
      expect(deletes).toHaveLength(1);
      expect(deletes[0]!.Action).toEqual(["ssm:DeleteParameter"]);
      expect(deletes[0]!.Resource).toEqual([tokens, usage]);
      // Authorized on the path's own ARN, not on what lies below it.
      expect(resourcesOf("ssm:GetParametersByPath")).toEqual([usagePath]);
    });

    it("uses KMS only through SSM and only with the stage's own key", () => {
      const [keyId] = only(template.findResources("AWS::KMS::Key"), "KMS key");
      const kms = statements().filter((s) => s.Action.some((a) => a.startsWith("kms:")));
      expect(kms).toHaveLength(1);
      const [s] = kms;
      expect([...s!.Action].sort()).toEqual(["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]);
      expect(s!.Resource).toEqual([`\${${keyId}.Arn}`]);
      expect(s!.Condition).toEqual({ StringEquals: { "kms:ViaService": `ssm.${REGION}.amazonaws.com` } });
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
