import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { DeleteMessageCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { safeJson } from "@newstore-auth/core/messages";
import { DetailType } from "@newstore-auth/core/settings";
import type { ConsumerPorts } from "./ports.js";

export interface AwsClients {
  ssm?: SSMClient;
  events?: EventBridgeClient;
  sqs?: SQSClient;
}

export function awsPorts(
  { ssm = new SSMClient({}), events = new EventBridgeClient({}), sqs = new SQSClient({}) }: AwsClients,
  { busName, replyQueueUrl, source }: { busName: string; replyQueueUrl: string; source: string },
): ConsumerPorts {
  return {
    async readParameter(name) {
      try {
        const { Parameter } = await ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
        return Parameter?.Value !== undefined && Parameter.Version !== undefined
          ? { value: Parameter.Value, version: Parameter.Version }
          : undefined;
      } catch (error) {
        const name = (error as Error).name;
        if (name === "ParameterNotFound" || name === "ParameterVersionNotFound") return undefined;
        throw error;
      }
    },
    async publishRequest(detail) {
      const out = await events.send(
        new PutEventsCommand({
          Entries: [{ EventBusName: busName, Source: source, DetailType: DetailType.requested, Detail: JSON.stringify(detail) }],
        }),
      );
      if (out.FailedEntryCount) {
        throw new Error(`PutEvents rejected token.requested: ${out.Entries?.[0]?.ErrorCode ?? "unknown error"}`);
      }
    },
    async receiveReplies(waitSeconds) {
      const out = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: replyQueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: waitSeconds }),
      );
      return (out.Messages ?? []).map((m) => ({
        envelope: safeJson(m.Body ?? ""),
        ack: async () => {
          await sqs.send(new DeleteMessageCommand({ QueueUrl: replyQueueUrl, ReceiptHandle: m.ReceiptHandle! }));
        },
      }));
    },
    now: () => Date.now(),
    sleep: (ms, signal) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms);
        function done() {
          clearTimeout(timer);
          signal?.removeEventListener("abort", done);
          resolve();
        }
        signal?.addEventListener("abort", done, { once: true });
      }),
  };
}
