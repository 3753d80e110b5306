// The broker: bus → rule → FIFO queue → one serialized Lambda. Every name and queue setting comes
// from core's settings module, which the local runtime provisions from too.
import { Duration } from "aws-cdk-lib";
import * as events from "aws-cdk-lib/aws-events";
import * as targets from "aws-cdk-lib/aws-events-targets";
import { PolicyStatement } from "aws-cdk-lib/aws-iam";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { EventBus, Function, Queue, type StackContext } from "sst/constructs";
import {
  brokerQueue,
  credentialsParameterName,
  Env,
  namesFor,
  refreshDueMessage,
  refreshSchedule,
  requestPattern,
  tokenParameterName,
  usageParameterPath,
} from "@newstore-auth/core/settings";
import { toCdkPattern } from "./eventPattern.js";

export function BrokerStack({ stack, app }: StackContext) {
  const names = namesFor(app.stage, {
    parameterPrefix: process.env[Env.parameterPrefix] || undefined,
    busName: process.env[Env.busName] || undefined,
  });

  const bus = new EventBus(stack, "Bus", {
    cdk: { eventBus: { eventBusName: names.busName } },
  });

  const deadLetterQueue = new sqs.Queue(stack, "BrokerDeadLetterQueue", {
    queueName: names.deadLetterQueueName,
    fifo: true, // a FIFO queue's DLQ must be FIFO too
    retentionPeriod: Duration.seconds(brokerQueue.deadLetterRetentionSeconds),
  });

  // SSM parameter ARNs have no '/' between "parameter" and a name that starts with one.
  const parameterArn = (name: string) => `arn:${stack.partition}:ssm:${stack.region}:${stack.account}:parameter${name}`;

  const fromNames = {
    [Env.stage]: names.stage,
    [Env.parameterPrefix]: names.parameterPrefix,
    [Env.busName]: names.busName,
  };
  // The broker's other settings (token URL, margins) are copied from the deploying shell only
  // when set there, so core's defaults stay the single source otherwise.
  const tuning = Object.values(Env).flatMap((key) => {
    const value = process.env[key];
    return key in fromNames || !value ? [] : [[key, value] as const];
  });

  const broker = new Function(stack, "Broker", {
    handler: "packages/functions/src/broker.handler",
    runtime: "nodejs20.x",
    timeout: brokerQueue.functionTimeoutSeconds,
    memorySize: 512,
    // With the FIFO single message group this makes the broker the only writer (see DESIGN).
    reservedConcurrentExecutions: 1,
    // SST defaults to "active", which adds X-Ray write actions on Resource "*".
    tracing: "disabled",
    environment: { ...fromNames, ...Object.fromEntries(tuning) },
    permissions: [
      new PolicyStatement({
        actions: ["ssm:GetParameter"],
        resources: [parameterArn(credentialsParameterName(names, "*"))],
      }),
      // Only the broker writes tokens.
      new PolicyStatement({
        actions: ["ssm:GetParameter", "ssm:PutParameter"],
        resources: [parameterArn(tokenParameterName(names, "*"))],
      }),
      // Its record of when each client was last requested (plain String parameters, no KMS),
      // which the scheduled refresh lists: GetParametersByPath is authorized on the path itself.
      new PolicyStatement({
        actions: ["ssm:GetParameter", "ssm:PutParameter"],
        resources: [parameterArn(`${usageParameterPath(names)}/*`)],
      }),
      new PolicyStatement({
        actions: ["ssm:GetParametersByPath"],
        resources: [parameterArn(usageParameterPath(names))],
      }),
      // SecureString parameters use the AWS managed SSM key, whose id is not known up front:
      // allow any key, but only through SSM and only the one aliased aws/ssm.
      new PolicyStatement({
        actions: ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
        resources: [`arn:${stack.partition}:kms:${stack.region}:${stack.account}:key/*`],
        conditions: {
          StringEquals: { "kms:ViaService": `ssm.${stack.region}.amazonaws.com` },
          "ForAnyValue:StringEquals": { "kms:ResourceAliases": "alias/aws/ssm" },
        },
      }),
      new PolicyStatement({
        actions: ["events:PutEvents"],
        resources: [bus.eventBusArn],
      }),
    ],
  });

  const queue = new Queue(stack, "BrokerQueue", {
    cdk: {
      queue: {
        queueName: names.requestQueueName,
        fifo: true,
        // EventBridge sends no deduplication id to a FIFO target.
        contentBasedDeduplication: true,
        visibilityTimeout: Duration.seconds(brokerQueue.visibilityTimeoutSeconds),
        retentionPeriod: Duration.seconds(brokerQueue.retentionSeconds),
        deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: brokerQueue.maxReceiveCount },
      },
    },
    consumer: {
      function: broker,
      cdk: { eventSource: { batchSize: brokerQueue.batchSize, reportBatchItemFailures: true } },
    },
  });

  bus.addRules(stack, {
    tokenRequested: {
      pattern: toCdkPattern(requestPattern),
      targets: {
        brokerQueue: {
          type: "queue",
          queue,
          // One message group: SQS hands the broker one batch at a time.
          cdk: { target: { messageGroupId: brokerQueue.messageGroupId } },
        },
      },
    },
  });

  // The scheduled refresh reaches the broker through its own queue, so the broker stays the only
  // writer of tokens. A schedule rule lives on the default bus. Its body is the settings' shape
  // with EventBridge's event id and time filled in: the time makes every body distinct, which
  // matters because the FIFO queue drops same-content messages for 5 minutes.
  const refreshRule = new events.Rule(stack, "RefreshSchedule", {
    schedule: events.Schedule.rate(Duration.minutes(refreshSchedule.everyMinutes)),
    targets: [
      new targets.SqsQueue(queue.cdk.queue, {
        messageGroupId: brokerQueue.messageGroupId,
        message: events.RuleTargetInput.fromObject(refreshDueMessage(events.EventField.eventId, events.EventField.time)),
      }),
    ],
  });

  stack.addOutputs({
    BusName: bus.eventBusName,
    QueueUrl: queue.queueUrl,
    DeadLetterQueueUrl: deadLetterQueue.queueUrl,
    ParameterPrefix: names.parameterPrefix,
  });

  // Other stacks take these with `use(BrokerStack)` (see ExampleConsumerStack).
  return { names, bus, queue, deadLetterQueue, broker, refreshRule };
}
