// Creates, idempotently, what the broker stack deploys, on any AWS endpoint (moto locally):
// bus, request rule, FIFO queue and its DLQ. Names and settings come from core's settings module,
// the same one the SST stack reads.
import {
  CreateEventBusCommand,
  DeleteRuleCommand,
  DescribeEventBusCommand,
  type EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
  RemoveTargetsCommand,
  ResourceAlreadyExistsException,
} from "@aws-sdk/client-eventbridge";
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  QueueNameExists,
  SetQueueAttributesCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import {
  brokerEventsPattern,
  brokerQueue,
  CLI_REQUESTER,
  consumerDefaults,
  type Names,
  replyPattern,
  requestPattern,
} from "@newstore-auth/core/settings";

export interface AwsClients {
  sqs: SQSClient;
  events: EventBridgeClient;
}

export interface QueueRef {
  url: string;
  arn: string;
}

export interface BrokerResources {
  busName: string;
  busArn: string;
  requestQueue: QueueRef;
  deadLetterQueue: QueueRef;
  /** What this call created (empty on a second run against the same endpoint). */
  created: string[];
}

export interface ProvisionOptions {
  /** Locally a short visibility timeout makes failed messages come back quickly. */
  visibilityTimeoutSeconds?: number;
}

export async function provisionBroker(aws: AwsClients, names: Names, options: ProvisionOptions = {}): Promise<BrokerResources> {
  const created: string[] = [];
  const busArn = await ensureBus(aws.events, names.busName, created);
  const deadLetterQueue = await ensureQueue(aws.sqs, names.deadLetterQueueName, created, {
    FifoQueue: "true",
    ContentBasedDeduplication: "true",
    MessageRetentionPeriod: String(brokerQueue.deadLetterRetentionSeconds),
  });
  const requestQueue = await ensureQueue(aws.sqs, names.requestQueueName, created, {
    FifoQueue: "true",
    // EventBridge sends FIFO targets no deduplication id: without this the messages are dropped.
    ContentBasedDeduplication: "true",
    VisibilityTimeout: String(options.visibilityTimeoutSeconds ?? brokerQueue.visibilityTimeoutSeconds),
    MessageRetentionPeriod: String(brokerQueue.retentionSeconds),
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: deadLetterQueue.arn, maxReceiveCount: brokerQueue.maxReceiveCount }),
  });
  await ensureRule(aws.events, names.busName, `${names.busName}-requests`, requestPattern, requestQueue, {
    MessageGroupId: brokerQueue.messageGroupId,
  });
  return { busName: names.busName, busArn, requestQueue, deadLetterQueue, created };
}

/** A consumer's reply queue: token.ready / token.failed routed by `detail.requester`. */
export async function provisionReplyQueue(
  aws: AwsClients,
  names: Names,
  requester: string,
  queueName?: string,
  created: string[] = [],
): Promise<QueueRef> {
  const name = queueName ?? `${names.busName}-replies-${requester.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 40)}`;
  const queue = await ensureQueue(aws.sqs, name, created, { MessageRetentionPeriod: String(consumerDefaults.replyRetentionSeconds) });
  await ensureRule(aws.events, names.busName, name, replyPattern(requester), queue);
  return queue;
}

/** The operator CLI's reply queue, as the broker stack deploys it. */
export const provisionCliReplyQueue = (aws: AwsClients, names: Names, created: string[] = []) =>
  provisionReplyQueue(aws, names, CLI_REQUESTER, names.cliReplyQueueName, created);

/** A queue that receives every event the broker publishes (or what `pattern` names). */
export async function provisionEventsTail(
  aws: AwsClients,
  names: Names,
  name = "tail",
  pattern: object = brokerEventsPattern,
  created: string[] = [],
): Promise<QueueRef> {
  const queue = await ensureQueue(aws.sqs, `${names.busName}-${name}`, created, {
    MessageRetentionPeriod: String(consumerDefaults.replyRetentionSeconds),
  });
  await ensureRule(aws.events, names.busName, `${names.busName}-${name}`, pattern, queue);
  return queue;
}

/**
 * A short-lived queue and rule of one name (`events tail`). Filled in as each piece exists, so
 * that removeTemporaryTail takes away exactly what was made, even after a failure half-way.
 */
export interface TemporaryTail {
  busName: string;
  name: string;
  queue?: QueueRef;
  ruleCreated?: boolean;
}

export async function provisionTemporaryTail(aws: AwsClients, tail: TemporaryTail, pattern: object): Promise<QueueRef> {
  // A tail left behind by a killed process then holds at most 5 minutes of events.
  const attributes = { MessageRetentionPeriod: "300" };
  const url = (await aws.sqs.send(new CreateQueueCommand({ QueueName: tail.name, Attributes: attributes }))).QueueUrl!;
  const { Attributes } = await aws.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }));
  const queue = (tail.queue = { url, arn: Attributes!.QueueArn! });
  tail.ruleCreated = true; // before the call: a PutRule that fails after creating must still be undone
  const { RuleArn } = await aws.events.send(
    new PutRuleCommand({ Name: tail.name, EventBusName: tail.busName, EventPattern: JSON.stringify(pattern), State: "ENABLED" }),
  );
  // On AWS, EventBridge delivers to a queue only if the queue's policy lets this rule send.
  const policy = {
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Service: "events.amazonaws.com" },
        Action: "sqs:SendMessage",
        Resource: queue.arn,
        Condition: { ArnEquals: { "aws:SourceArn": RuleArn } },
      },
    ],
  };
  await aws.sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { Policy: JSON.stringify(policy) } }));
  await aws.events.send(new PutTargetsCommand({ Rule: tail.name, EventBusName: tail.busName, Targets: [{ Id: "queue", Arn: queue.arn }] }));
  return queue;
}

/** Removes what provisionTemporaryTail made; each step runs even if another fails. */
export async function removeTemporaryTail(aws: AwsClients, tail: TemporaryTail): Promise<void> {
  const failures: string[] = [];
  const gone = (error: unknown) => ["ResourceNotFoundException", "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"].includes((error as Error).name);
  if (tail.ruleCreated) {
    try {
      // A rule with targets cannot be deleted.
      await aws.events.send(new RemoveTargetsCommand({ Rule: tail.name, EventBusName: tail.busName, Ids: ["queue"] }));
      await aws.events.send(new DeleteRuleCommand({ Name: tail.name, EventBusName: tail.busName }));
      tail.ruleCreated = false;
    } catch (error) {
      if (gone(error)) tail.ruleCreated = false;
      else failures.push(`rule ${tail.name} on bus ${tail.busName} (${(error as Error).name})`);
    }
  }
  if (tail.queue) {
    try {
      await aws.sqs.send(new DeleteQueueCommand({ QueueUrl: tail.queue.url }));
      tail.queue = undefined;
    } catch (error) {
      if (gone(error)) tail.queue = undefined;
      else failures.push(`queue ${tail.name} (${(error as Error).name})`);
    }
  }
  if (failures.length > 0) throw new Error(`could not remove ${failures.join(" and ")}; remove by hand`);
}

async function ensureBus(events: EventBridgeClient, name: string, created: string[]): Promise<string> {
  try {
    const out = await events.send(new CreateEventBusCommand({ Name: name }));
    created.push(`bus ${name}`);
    return out.EventBusArn!;
  } catch (error) {
    if (!(error instanceof ResourceAlreadyExistsException || (error as Error).name === "ResourceAlreadyExistsException")) throw error;
    const out = await events.send(new DescribeEventBusCommand({ Name: name }));
    return out.Arn!;
  }
}

async function ensureQueue(sqs: SQSClient, name: string, created: string[], attributes: Record<string, string>): Promise<QueueRef> {
  let url: string | undefined;
  try {
    url = (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl;
  } catch (error) {
    if ((error as Error).name !== "QueueDoesNotExist" && (error as Error).name !== "AWS.SimpleQueueService.NonExistentQueue") throw error;
  }
  if (url) {
    // Settings may have changed since it was made; FifoQueue cannot change and is left out.
    const { FifoQueue: _fifo, ...changeable } = attributes;
    if (Object.keys(changeable).length > 0) await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: changeable }));
  } else {
    try {
      url = (await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }))).QueueUrl!;
      created.push(`queue ${name}`);
    } catch (error) {
      if (!(error instanceof QueueNameExists)) throw error;
      url = (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl!;
    }
  }
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }));
  return { url, arn: Attributes!.QueueArn! };
}

async function ensureRule(
  events: EventBridgeClient,
  busName: string,
  ruleName: string,
  pattern: object,
  queue: QueueRef,
  sqsParameters?: { MessageGroupId: string },
): Promise<void> {
  // PutRule and PutTargets are upserts: running them again changes nothing.
  await events.send(new PutRuleCommand({ Name: ruleName, EventBusName: busName, EventPattern: JSON.stringify(pattern), State: "ENABLED" }));
  await events.send(
    new PutTargetsCommand({
      Rule: ruleName,
      EventBusName: busName,
      Targets: [{ Id: "queue", Arn: queue.arn, ...(sqsParameters ? { SqsParameters: sqsParameters } : {}) }],
    }),
  );
}
