// The queue poller on moto: it must behave as Lambda's SQS event source does for the broker.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import { brokerQueue, namesFor } from "@newstore-auth/core";
import { type MotoServer, startMoto } from "../src/moto.js";
import { startPoller } from "../src/poller.js";
import { type BrokerResources, provisionBroker } from "../src/provision.js";

describe("queue poller on moto", () => {
  let moto: MotoServer;
  let sqs: SQSClient;
  let events: EventBridgeClient;
  let resources: BrokerResources;
  const names = namesFor("poller");

  beforeAll(async () => {
    moto = await startMoto();
    const config = { endpoint: moto.endpoint, region: "us-east-1", credentials: { accessKeyId: "t", secretAccessKey: "t" }, maxAttempts: 1 };
    sqs = new SQSClient(config);
    events = new EventBridgeClient(config);
  });
  afterAll(async () => {
    sqs?.destroy();
    events?.destroy();
    await moto?.stop();
  });
  beforeEach(async () => {
    await moto.reset();
    resources = await provisionBroker({ sqs, events }, names, { visibilityTimeoutSeconds: 1 });
  });

  const send = async (bodies: string[]) => {
    for (const body of bodies) {
      await sqs.send(new SendMessageCommand({ QueueUrl: resources.requestQueue.url, MessageBody: body, MessageGroupId: brokerQueue.messageGroupId }));
    }
  };
  const depth = async (url: string) => {
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"] }),
    );
    return Number(Attributes!.ApproximateNumberOfMessages) + Number(Attributes!.ApproximateNumberOfMessagesNotVisible);
  };
  const until = async (check: () => boolean, timeoutMs = 20_000) => {
    const end = Date.now() + timeoutMs;
    while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    return check();
  };
  const poll = (handler: (event: SQSEvent) => Promise<SQSBatchResponse>) =>
    startPoller({ sqs, queueUrl: resources.requestQueue.url, queueArn: resources.requestQueue.arn, region: "us-east-1", handler, waitTimeSeconds: 1 });

  it("hands over batches of at most 10, one at a time, as SQS records", async () => {
    await send(Array.from({ length: 25 }, (_, i) => `m${i}`));
    const seen: string[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const poller = poll(async (event) => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      expect(event.Records.length).toBeLessThanOrEqual(10);
      for (const r of event.Records) {
        expect(r.eventSource).toBe("aws:sqs");
        expect(r.eventSourceARN).toBe(resources.requestQueue.arn);
        expect(r.attributes.MessageGroupId).toBe(brokerQueue.messageGroupId);
      }
      seen.push(...event.Records.map((r) => r.body));
      await new Promise((r) => setTimeout(r, 20));
      inFlight -= 1;
      return { batchItemFailures: [] };
    });
    expect(await until(() => seen.length === 25)).toBe(true);
    await poller.stop();
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => `m${i}`)); // FIFO order kept
    expect(maxInFlight).toBe(1);
    expect(await depth(resources.requestQueue.url)).toBe(0);
  });

  it("deletes only what succeeded; a failed item comes back after the visibility timeout", async () => {
    await send(["ok-1", "flaky", "ok-2"]);
    const receipts: Array<{ body: string; count: string }> = [];
    let failedOnce = false;
    const poller = poll(async (event) => {
      receipts.push(...event.Records.map((r) => ({ body: r.body, count: r.attributes.ApproximateReceiveCount })));
      const flaky = event.Records.find((r) => r.body === "flaky");
      if (flaky && !failedOnce) {
        failedOnce = true;
        return { batchItemFailures: [{ itemIdentifier: flaky.messageId }] };
      }
      return { batchItemFailures: [] };
    });
    expect(await until(() => receipts.filter((r) => r.body === "flaky").length === 2)).toBe(true);
    await poller.stop();
    expect(receipts.filter((r) => r.body === "flaky").map((r) => r.count)).toEqual(["1", "2"]);
    expect(receipts.filter((r) => r.body === "ok-1")).toHaveLength(1);
    expect(poller.stats.failed).toBe(1);
    expect(await depth(resources.requestQueue.url)).toBe(0);
  });

  it("treats a thrown handler as a failed batch, and a message failing 5 times lands in the DLQ", async () => {
    await send(["poison"]);
    let receives = 0;
    const poller = poll(async () => {
      receives += 1;
      throw new Error("boom");
    });
    expect(await until(() => receives === brokerQueue.maxReceiveCount, 30_000)).toBe(true);
    // give it the chance to receive a sixth time; it must not
    await new Promise((r) => setTimeout(r, 2500));
    await poller.stop();
    expect(receives).toBe(brokerQueue.maxReceiveCount);
    const dead = await sqs.send(new ReceiveMessageCommand({ QueueUrl: resources.deadLetterQueue.url, MaxNumberOfMessages: 10 }));
    expect(dead.Messages?.map((m) => m.Body)).toEqual(["poison"]);
  });

  it("provisions idempotently: a second run creates nothing", async () => {
    const again = await provisionBroker({ sqs, events }, names, { visibilityTimeoutSeconds: 1 });
    expect(resources.created.length).toBeGreaterThan(0);
    expect(again.created).toEqual([]);
    expect(again.requestQueue).toEqual(resources.requestQueue);
  });
});
