// The broker: bus → rule → FIFO queue → one serialized Lambda; the admin API in front of the
// credentials; the operator CLI's reply queue. Every name and queue setting comes from core's
// settings module, which the local runtime provisions from too.
import { Duration } from "aws-cdk-lib";
import * as apigateway from "aws-cdk-lib/aws-apigateway";
import * as events from "aws-cdk-lib/aws-events";
import * as targets from "aws-cdk-lib/aws-events-targets";
import { PolicyStatement } from "aws-cdk-lib/aws-iam";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { EventBus, Function, Queue, type StackContext } from "sst/constructs";
import {
  AdminEnv,
  adminApi,
  brokerQueue,
  CLI_REQUESTER,
  consumerDefaults,
  credentialsParameterName,
  credentialsParameterPath,
  Env,
  namesFor,
  refreshDueMessage,
  refreshSchedule,
  replyPattern,
  requestPattern,
  tokenParameterName,
  usageParameterPath,
} from "@newstore-auth/core/settings";
import { toCdkPattern } from "./eventPattern.js";
import { parameterArn, ssmKeyStatement } from "./iam.js";

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

  const ssmArn = (name: string) => parameterArn(stack, name);
  // The path GET /credentials lists (settings names parameters, not this path: derived from it).
  const credentialsPath = credentialsParameterPath(names);
  const tokensPattern = tokenParameterName(names, "*");
  const usagePattern = `${usageParameterPath(names)}/*`;

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
        resources: [ssmArn(credentialsParameterName(names, "*"))],
      }),
      // Only the broker writes tokens.
      new PolicyStatement({
        actions: ["ssm:GetParameter", "ssm:PutParameter"],
        resources: [ssmArn(tokensPattern)],
      }),
      // Its record of when each client was last requested (plain String parameters, no KMS),
      // which the scheduled refresh lists: GetParametersByPath is authorized on the path itself.
      new PolicyStatement({
        actions: ["ssm:GetParameter", "ssm:PutParameter"],
        resources: [ssmArn(usagePattern)],
      }),
      new PolicyStatement({
        actions: ["ssm:GetParametersByPath"],
        resources: [ssmArn(usageParameterPath(names))],
      }),
      // When the admin API deletes a client's credentials, the broker removes its token and its
      // usage record (credentials.deleted reaches it through its queue like all its work).
      new PolicyStatement({
        actions: ["ssm:DeleteParameter"],
        resources: [ssmArn(tokensPattern), ssmArn(usagePattern)],
      }),
      ssmKeyStatement(stack, ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]),
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

  // The admin API's function: writes credentials, reads token status (never returns a token),
  // and hands credential changes to the broker through its queue. Options it reads are copied
  // from the deploying shell only when set there, like the broker's tuning. Not the API key:
  // on AWS, API Gateway checks the key before the function runs.
  const adminOptions = [AdminEnv.allowedRoles, AdminEnv.defaultTenant].flatMap((key) => {
    const value = process.env[key];
    return value ? [[key, value] as const] : [];
  });
  const admin = new Function(stack, "Admin", {
    handler: "packages/functions/src/admin.handler",
    runtime: "nodejs20.x",
    timeout: 15,
    memorySize: 256,
    // SST defaults to "active", which adds X-Ray write actions on Resource "*".
    tracing: "disabled",
    environment: {
      ...fromNames,
      [AdminEnv.brokerQueueUrl]: queue.queueUrl,
      ...Object.fromEntries(adminOptions),
    },
    permissions: [
      // The only writer of credentials.
      new PolicyStatement({
        actions: ["ssm:GetParameter", "ssm:PutParameter", "ssm:DeleteParameter"],
        resources: [ssmArn(credentialsParameterName(names, "*"))],
      }),
      // GET /credentials lists them: GetParametersByPath is authorized on the path itself.
      new PolicyStatement({
        actions: ["ssm:GetParametersByPath"],
        resources: [ssmArn(credentialsPath)],
      }),
      // Token status (expiresAt) is inside the SecureString value: read-only, and the handler
      // never returns the value. Only the broker writes or deletes tokens.
      new PolicyStatement({
        actions: ["ssm:GetParameter", "ssm:GetParameters"],
        resources: [ssmArn(tokensPattern)],
      }),
      // Credentials are SecureStrings it encrypts and decrypts.
      ssmKeyStatement(stack, ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]),
      // credentials.changed / credentials.deleted go straight to the broker's queue, not the bus:
      // the bus forwards only token.requested, so no consumer can send the broker such work.
      new PolicyStatement({
        actions: ["sqs:SendMessage"],
        resources: [queue.queueArn],
      }),
    ],
  });

  // Every method needs the API key except GET /health; a method added later needs it by default.
  // No CORS: operators call it from the CLI and scripts, never from a browser.
  const api = new apigateway.RestApi(stack, "AdminApi", {
    restApiName: names.adminApiName,
    description: `newstore-auth admin API (${names.stage}): credentials of NewStore API clients`,
    endpointConfiguration: { types: [apigateway.EndpointType.REGIONAL] },
    // The CloudWatch role is one per account and region (AWS::ApiGateway::Account): not this
    // stack's to create, and the API logs nothing to CloudWatch itself.
    cloudWatchRole: false,
    deployOptions: { stageName: names.stage },
    // One Lambda permission per method, for the deployed stage only (no console test invokes).
    defaultIntegration: new apigateway.LambdaIntegration(admin, { proxy: true, allowTestInvoke: false }),
    defaultMethodOptions: { apiKeyRequired: true },
  });
  // RestApi adds an output of its URL under a hashed id; AdminApiUrl below is that URL, named.
  api.node.tryRemoveChild("Endpoint");
  api.root.addResource("health").addMethod("GET", undefined, { apiKeyRequired: false });
  const credentials = api.root.addResource("credentials");
  for (const method of ["GET", "POST"]) credentials.addMethod(method);
  const credential = credentials.addResource("{clientId}");
  for (const method of ["GET", "PUT", "DELETE"]) credential.addMethod(method);

  // The key's value is generated by API Gateway and never appears in the template or outputs:
  // `aws apigateway get-api-key --api-key <AdminApiKeyId> --include-value` prints it.
  const apiKey = new apigateway.ApiKey(stack, "AdminApiKey", {
    apiKeyName: names.adminApiName,
    description: `Operators' key for the newstore-auth admin API (${names.stage})`,
  });
  const usagePlan = api.addUsagePlan("AdminUsagePlan", {
    name: names.adminApiName,
    throttle: { rateLimit: adminApi.throttleRatePerSecond, burstLimit: adminApi.throttleBurst },
    apiStages: [{ api, stage: api.deploymentStage }],
  });
  usagePlan.addApiKey(apiKey);

  // The operator CLI's `token get` waits here for the broker's replies, like any consumer. The
  // operators' own IAM identities read it; no function is granted anything on it. Standard, and
  // no input transformer: the CLI reads the EventBridge envelope (as it does locally on moto).
  const cliReplyQueue = new sqs.Queue(stack, "CliReplyQueue", {
    queueName: names.cliReplyQueueName,
    retentionPeriod: Duration.seconds(consumerDefaults.replyRetentionSeconds),
  });
  const cliReplyRule = new events.Rule(stack, "CliReplies", {
    eventBus: bus.cdk.eventBus,
    eventPattern: toCdkPattern(replyPattern(CLI_REQUESTER)),
    targets: [new targets.SqsQueue(cliReplyQueue)],
  });

  stack.addOutputs({
    BusName: bus.eventBusName,
    QueueUrl: queue.queueUrl,
    DeadLetterQueueUrl: deadLetterQueue.queueUrl,
    ParameterPrefix: names.parameterPrefix,
    AdminApiUrl: api.url,
    // The key's id, never its value: see the note on apiKey above.
    AdminApiKeyId: apiKey.keyId,
    CliReplyQueueUrl: cliReplyQueue.queueUrl,
  });

  // Other stacks take these with `use(BrokerStack)` (see ExampleConsumerStack).
  return { names, bus, queue, deadLetterQueue, broker, refreshRule, admin, api, apiKey, usagePlan, cliReplyQueue, cliReplyRule };
}
