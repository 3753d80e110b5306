// What an integration adds to its stack to get NewStore tokens from the broker: a reply queue fed
// by its rules on the broker's bus, and exactly the permissions and environment the consumer SDK
// (@newstore-auth/client) needs. Names, patterns and settings come from core's settings module.
import { Duration } from "aws-cdk-lib";
import type * as events from "aws-cdk-lib/aws-events";
import { Rule } from "aws-cdk-lib/aws-events";
import * as targets from "aws-cdk-lib/aws-events-targets";
import { PolicyStatement } from "aws-cdk-lib/aws-iam";
import type * as kms from "aws-cdk-lib/aws-kms";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { Function as SstFunction } from "sst/constructs";
import { ClientId, Requester } from "@newstore-auth/core/schemas";
import {
  ConsumerEnv,
  consumerDefaults,
  replyPattern,
  rotationPattern,
  tokenParameterName,
} from "@newstore-auth/core/settings";
import { toCdkPattern } from "./eventPattern.js";
import { keyStatement, parameterArn, READER_KEY_ACTIONS, ssmKeyStatement } from "./iam.js";

export interface TokenConsumerProps {
  /** The consumer's requester name: the broker routes its replies by it. */
  name: string;
  /** The clients whose tokens it reads (and whose rotations it hears of). */
  clientIds: string[];
  /** The broker's bus (an SST EventBus's `.cdk.eventBus`, or `EventBus.fromEventBusName`). */
  bus: events.IEventBus;
  /** The broker's SSM prefix, `/newstore-auth/{stage}` by default. */
  parameterPrefix: string;
  /** Functions that get tokens; more can be added with `bind()`. SST Functions are lambda.Functions. */
  functions?: lambda.Function[];
  /**
   * The broker's KMS key of the SecureStrings (BrokerStack returns it as `key`; from outside the
   * app, `kms.Key.fromKeyArn` with its KmsKeyArn output). Absent: the tokens are taken to be under
   * the account's aws/ssm key, as a broker stage deployed before it had its own key wrote them;
   * against a current broker, decryption is then denied.
   */
  key?: kms.IKey;
}

export class TokenConsumer extends Construct {
  /** Where the broker's replies and the rotations of `clientIds` arrive. */
  readonly queue: sqs.Queue;
  readonly name: string;
  readonly clientIds: readonly string[];
  readonly bus: events.IEventBus;
  readonly parameterPrefix: string;
  readonly key: kms.IKey | undefined;

  constructor(scope: Construct, id: string, props: TokenConsumerProps) {
    super(scope, id);
    const requester = Requester.safeParse(props.name);
    if (!requester.success) {
      throw new Error(`TokenConsumer ${id}: name ${JSON.stringify(props.name)} is not a valid requester (${issues(requester.error)})`);
    }
    if (props.clientIds.length === 0) {
      throw new Error(`TokenConsumer ${id}: clientIds is empty; list the clients whose tokens it reads`);
    }
    for (const clientId of props.clientIds) {
      const parsed = ClientId.safeParse(clientId);
      if (!parsed.success) {
        throw new Error(`TokenConsumer ${id}: client id ${JSON.stringify(clientId)} is invalid (${issues(parsed.error)})`);
      }
    }
    const parameterPrefix = props.parameterPrefix.replace(/\/+$/, "");
    if (!parameterPrefix.startsWith("/")) {
      throw new Error(`TokenConsumer ${id}: parameterPrefix must start with '/', got ${JSON.stringify(props.parameterPrefix)}`);
    }

    this.name = props.name;
    this.clientIds = [...props.clientIds];
    this.bus = props.bus;
    this.parameterPrefix = parameterPrefix;
    this.key = props.key;

    // Standard, not FIFO: replies are independent and each carries its request id.
    this.queue = new sqs.Queue(this, "ReplyQueue", {
      retentionPeriod: Duration.seconds(consumerDefaults.replyRetentionSeconds),
    });
    // No input transformer: the SDK reads the EventBridge envelope (as it does locally on moto).
    new Rule(this, "Replies", {
      eventBus: props.bus,
      eventPattern: toCdkPattern(replyPattern(this.name)),
      targets: [new targets.SqsQueue(this.queue)],
    });
    new Rule(this, "Rotations", {
      eventBus: props.bus,
      eventPattern: toCdkPattern(rotationPattern(this.clientIds)),
      targets: [new targets.SqsQueue(this.queue)],
    });

    this.bind(...(props.functions ?? []));
  }

  /** Grants each function what the SDK needs and sets the environment it reads. */
  bind(...functions: lambda.Function[]): void {
    for (const fn of functions) this.grantTo(fn);
  }

  /** The statements a consumer needs: its tokens, the key (decrypt only), the bus, its queue. */
  policyStatements(): PolicyStatement[] {
    const prefix = { parameterPrefix: this.parameterPrefix };
    return [
      // Its own clients' tokens only: never credentials, never another client's token.
      new PolicyStatement({
        actions: ["ssm:GetParameter"],
        resources: this.clientIds.map((clientId) => parameterArn(this, tokenParameterName(prefix, clientId))),
      }),
      // Tokens are SecureStrings: decrypt only (a consumer writes none), only through SSM. The
      // broker's key policy does not name consumers (they live in other stacks, deployed later):
      // this IAM statement is their grant, which the key policy's account root statement allows.
      this.key ? keyStatement(this, this.key, READER_KEY_ACTIONS) : ssmKeyStatement(this, READER_KEY_ACTIONS),
      new PolicyStatement({
        actions: ["events:PutEvents"],
        resources: [this.bus.eventBusArn],
      }),
      new PolicyStatement({
        actions: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
        resources: [this.queue.queueArn],
      }),
    ];
  }

  /** The environment the SDK's `createTokenClientFromEnv()` reads. */
  environment(): Record<string, string> {
    return {
      [ConsumerEnv.requester]: this.name,
      [ConsumerEnv.busName]: this.bus.eventBusName,
      [ConsumerEnv.replyQueueUrl]: this.queue.queueUrl,
      [ConsumerEnv.parameterPrefix]: this.parameterPrefix,
    };
  }

  grantTo(fn: lambda.Function): void {
    const statements = this.policyStatements();
    if (fn instanceof SstFunction) fn.attachPermissions(statements);
    else for (const statement of statements) fn.addToRolePolicy(statement);
    for (const [key, value] of Object.entries(this.environment())) fn.addEnvironment(key, value);
  }
}

function issues(error: { issues: { message: string }[] }): string {
  return error.issues.map((issue) => issue.message).join("; ");
}
