import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { WorkQueue } from "../ports.js";
import { brokerQueue } from "../settings.js";

/** Sends work items to the broker's FIFO queue, in its one message group. */
export function sqsWorkQueue(client: SQSClient, queueUrl: string): WorkQueue {
  return {
    async send(item) {
      await client.send(
        new SendMessageCommand({ QueueUrl: queueUrl, MessageGroupId: brokerQueue.messageGroupId, MessageBody: JSON.stringify(item) }),
      );
    },
  };
}
