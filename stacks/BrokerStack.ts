// The broker: bus → rule → FIFO queue → one serialized Lambda; the admin API in front of the
// credentials; the operator CLI's reply queue; the stage's KMS key of the SecureStrings; the
// alarms. Every name and queue setting comes from core's settings module, which the local
// runtime provisions from too.
import { Duration } from "aws-cdk-lib";
import * as apigateway from "aws-cdk-lib/aws-apigateway";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as cloudwatchActions from "aws-cdk-lib/aws-cloudwatch-actions";
import * as events from "aws-cdk-lib/aws-events";
import * as targets from "aws-cdk-lib/aws-events-targets";
import { PolicyStatement } from "aws-cdk-lib/aws-iam";
import * as kms from "aws-cdk-lib/aws-kms";
import * as sns from "aws-cdk-lib/aws-sns";
import * as subscriptions from "aws-cdk-lib/aws-sns-subscriptions";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { EventBus, Function, Queue, type StackContext } from "sst/constructs";
import {
  AdminEnv,
  adminApi,
  APP_NAME,
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
import { keyPolicyStatement, keyStatement, parameterArn, WRITER_KEY_ACTIONS } from "./iam.js";
import { adminAuthorization, alarmEmail, StackEnv } from "./options.js";

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

  // The key of every SecureString of the stage (credentials, tokens; the usage records are plain
  // Strings). Its default policy keeps the account root statement: it is what lets IAM policies
  // grant use of the key at all (consumers in other stacks rely on it, see below). Retained when
  // the stack is removed (CDK's default): deleting it would make every SecureString unreadable.
  const key = new kms.Key(stack, "SecureStringKey", {
    description: `${APP_NAME} (${names.stage}): SecureString parameters below ${names.parameterPrefix}`,
    enableKeyRotation: true,
  });
  // alias/newstore-auth-{stage}; removed with the stack (so a redeploy can create it again).
  const keyAlias = key.addAlias(`alias/${APP_NAME}-${names.stage}`);

  const ssmArn = (name: string) => parameterArn(stack, name);
  // The path GET /credentials lists (settings names parameters, not this path: derived from it).
  const credentialsPath = credentialsParameterPath(names);
  const tokensPattern = tokenParameterName(names, "*");
  const usagePattern = `${usageParameterPath(names)}/*`;

  // The broker and the admin API encrypt with the stack's key: this never comes from the shell.
  const fromNames = {
    [Env.stage]: names.stage,
    [Env.parameterPrefix]: names.parameterPrefix,
    [Env.busName]: names.busName,
    [Env.kmsKeyId]: key.keyArn,
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
      // Tokens are SecureStrings under the stage's key: it encrypts and decrypts them, via SSM only.
      keyStatement(stack, key, WRITER_KEY_ACTIONS),
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
      // Credentials are SecureStrings under the stage's key: it encrypts and decrypts them, via SSM only.
      keyStatement(stack, key, WRITER_KEY_ACTIONS),
      // credentials.changed / credentials.deleted go straight to the broker's queue, not the bus:
      // the bus forwards only token.requested, so no consumer can send the broker such work.
      new PolicyStatement({
        actions: ["sqs:SendMessage"],
        resources: [queue.queueArn],
      }),
    ],
  });

  // The key policy names the two writers itself, so reading it tells who may encrypt. The IAM
  // statements above grant the same (either suffices in one account; both document it). Consumers
  // live in other stacks, often deployed later: they are not named here but get Decrypt through
  // their own IAM policies (TokenConsumer), which the account root statement delegates to IAM.
  key.addToResourcePolicy(keyPolicyStatement(stack, "BrokerEncryptsAndDecryptsViaSsm", broker.role!, WRITER_KEY_ACTIONS));
  key.addToResourcePolicy(keyPolicyStatement(stack, "AdminApiEncryptsAndDecryptsViaSsm", admin.role!, WRITER_KEY_ACTIONS));

  // Every method needs the API key except GET /health; a method added later needs it by default.
  // With NEWSTORE_AUTH_ADMIN_AUTH=iam in the deploying shell, those methods also need IAM: a
  // SigV4 signature of an identity allowed execute-api:Invoke on AdminApiInvokeArn. Both, not
  // either: API Gateway has no "key OR IAM" on one method, and requiring both keeps DESIGN's
  // contract (a missing key is still 403) while IAM adds who-called-what to CloudTrail and lets
  // access be revoked per identity; the key's usage plan keeps throttling operators.
  // No CORS: operators call it from the CLI and scripts, never from a browser.
  const authorization = adminAuthorization(process.env[StackEnv.adminAuth]);
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
    defaultMethodOptions: {
      apiKeyRequired: true,
      authorizationType: authorization === "api-key+iam" ? apigateway.AuthorizationType.IAM : apigateway.AuthorizationType.NONE,
    },
  });
  // RestApi adds an output of its URL under a hashed id; AdminApiUrl below is that URL, named.
  api.node.tryRemoveChild("Endpoint");
  api.root
    .addResource("health")
    .addMethod("GET", undefined, { apiKeyRequired: false, authorizationType: apigateway.AuthorizationType.NONE });
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

  // Alarms: anything in the DLQ is a request nobody answered; any error or throttle of the broker
  // (reserved concurrency 1: a throttle means pollers are stuck behind a running batch). No data
  // (an idle stage, an empty DLQ that stopped reporting) is not a breach.
  const period = Duration.minutes(5);
  const alarmProps = {
    threshold: 1,
    evaluationPeriods: 1,
    datapointsToAlarm: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  };
  const alarmName = (what: string) => `${APP_NAME}-${names.stage}-${what}`;
  const alarms = {
    deadLetter: new cloudwatch.Alarm(stack, "DeadLetterQueueAlarm", {
      ...alarmProps,
      alarmName: alarmName("broker-dlq-depth"),
      alarmDescription: `Messages in ${names.deadLetterQueueName}: requests or work the broker failed ${brokerQueue.maxReceiveCount} times`,
      metric: deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: cloudwatch.Stats.MAXIMUM }),
    }),
    brokerErrors: new cloudwatch.Alarm(stack, "BrokerErrorsAlarm", {
      ...alarmProps,
      alarmName: alarmName("broker-errors"),
      alarmDescription: "The broker function failed (an invocation error, not a token.failed answer)",
      metric: broker.metricErrors({ period, statistic: cloudwatch.Stats.SUM }),
    }),
    brokerThrottles: new cloudwatch.Alarm(stack, "BrokerThrottlesAlarm", {
      ...alarmProps,
      alarmName: alarmName("broker-throttles"),
      alarmDescription: "The broker (reserved concurrency 1) was throttled: its pollers are stuck or over-pulling",
      metric: broker.metricThrottles({ period, statistic: cloudwatch.Stats.SUM }),
    }),
  };
  // Notifications only when the deploying shell names an address (the subscription must be
  // confirmed from the email AWS sends).
  const email = alarmEmail(process.env[StackEnv.alarmEmail]);
  let alarmTopic: sns.Topic | undefined;
  if (email) {
    alarmTopic = new sns.Topic(stack, "AlarmTopic", { topicName: alarmName("alarms"), displayName: `${APP_NAME} ${names.stage} alarms` });
    alarmTopic.addSubscription(new subscriptions.EmailSubscription(email));
    for (const alarm of Object.values(alarms)) alarm.addAlarmAction(new cloudwatchActions.SnsAction(alarmTopic));
  }

  stack.addOutputs({
    BusName: bus.eventBusName,
    QueueUrl: queue.queueUrl,
    DeadLetterQueueUrl: deadLetterQueue.queueUrl,
    ParameterPrefix: names.parameterPrefix,
    AdminApiUrl: api.url,
    // The key's id, never its value: see the note on apiKey above.
    AdminApiKeyId: apiKey.keyId,
    CliReplyQueueUrl: cliReplyQueue.queueUrl,
    AdminApiAuthorization: authorization,
    // Callers' IAM policies allow execute-api:Invoke on this (every method of the deployed stage).
    ...(authorization === "api-key+iam" && {
      AdminApiInvokeArn: api.arnForExecuteApi("*", "/*", api.deploymentStage.stageName),
    }),
    KmsKeyArn: key.keyArn,
    KmsKeyAlias: keyAlias.aliasName,
    DeadLetterAlarmName: alarms.deadLetter.alarmName,
    BrokerErrorsAlarmName: alarms.brokerErrors.alarmName,
    BrokerThrottlesAlarmName: alarms.brokerThrottles.alarmName,
    ...(alarmTopic && { AlarmTopicArn: alarmTopic.topicArn }),
  });

  // Other stacks take these with `use(BrokerStack)` (see ExampleConsumerStack).
  return {
    names,
    key,
    keyAlias,
    bus,
    queue,
    deadLetterQueue,
    broker,
    refreshRule,
    admin,
    api,
    apiKey,
    usagePlan,
    cliReplyQueue,
    cliReplyRule,
    alarms,
    alarmTopic,
  };
}
