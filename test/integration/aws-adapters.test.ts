// core's SSM and EventBridge adapters against moto.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { DescribeParametersCommand, SSMClient } from "@aws-sdk/client-ssm";
import { SQSClient } from "@aws-sdk/client-sqs";
import { eventBridgePublisher } from "@newstore-auth/core/aws/eventbridge";
import { ssmParameterStore } from "@newstore-auth/core/aws/ssm";
import { namesFor, type BrokerEvent } from "@newstore-auth/core";
import { type MotoServer, startMoto } from "@newstore-auth/local/moto";
import { provisionBroker, provisionEventsTail } from "@newstore-auth/local/provision";
import { collect } from "../support/harness.js";

describe("AWS adapters on moto", () => {
  let moto: MotoServer;
  let ssm: SSMClient;
  let events: EventBridgeClient;
  let sqs: SQSClient;
  const names = namesFor("adapters");

  beforeAll(async () => {
    moto = await startMoto();
    const config = { endpoint: moto.endpoint, region: "us-east-1", credentials: { accessKeyId: "t", secretAccessKey: "t" }, maxAttempts: 1 };
    ssm = new SSMClient(config);
    events = new EventBridgeClient(config);
    sqs = new SQSClient(config);
  });
  afterAll(async () => {
    for (const c of [ssm, events, sqs]) c?.destroy();
    await moto?.stop();
  });
  beforeEach(() => moto.reset());

  it("SSM: SecureString with overwrite and versions; a missing parameter is undefined", async () => {
    const store = ssmParameterStore(ssm);
    expect(await store.get("/newstore-auth/adapters/tokens/none")).toBeUndefined();
    expect(await store.put("/newstore-auth/adapters/tokens/a", '{"v":1}')).toEqual({ version: 1 });
    expect(await store.put("/newstore-auth/adapters/tokens/a", '{"v":2}')).toEqual({ version: 2 });
    expect(await store.get("/newstore-auth/adapters/tokens/a")).toEqual({ value: '{"v":2}', version: 2 });
    const { Parameters } = await ssm.send(new DescribeParametersCommand({}));
    expect(Parameters?.map((p) => [p.Name, p.Type, p.Tier])).toEqual([["/newstore-auth/adapters/tokens/a", "SecureString", "Standard"]]);
  });

  it("SSM: the advanced tier only for a value over 4 KB", async () => {
    const store = ssmParameterStore(ssm);
    await store.put("/newstore-auth/adapters/tokens/small", "x".repeat(4096));
    await store.put("/newstore-auth/adapters/tokens/large", "x".repeat(4097));
    const { Parameters } = await ssm.send(new DescribeParametersCommand({}));
    const tiers = Object.fromEntries(Parameters!.map((p) => [p.Name!.split("/").pop(), p.Tier]));
    expect(tiers).toEqual({ small: "Standard", large: "Advanced" });
  });

  it("EventBridge: publishes more than 10 events in chunks, every one delivered", async () => {
    await provisionBroker({ sqs, events }, names);
    const tail = await provisionEventsTail({ sqs, events }, names);
    const publisher = eventBridgePublisher(events, { busName: names.busName });
    const batch: BrokerEvent[] = Array.from({ length: 25 }, (_, i) => ({
      detailType: "token.revoked",
      detail: { clientId: `client-${i}`, reason: "test" },
    }));
    expect(await publisher.publish(batch)).toEqual({ failed: [] });
    const delivered = await collect(sqs, tail, 25);
    expect(delivered.map((e) => (e.detail as { clientId: string }).clientId).sort()).toEqual(batch.map((b) => b.detail.clientId).sort());
    expect(new Set(delivered.map((e) => e.source))).toEqual(new Set(["newstore-auth.broker"]));
  });

  it("EventBridge: reports the entries that still fail after its retries", async () => {
    const publisher = eventBridgePublisher(events, { busName: "no-such-bus", retries: 1, retryDelayMs: 1 });
    const result = await publisher.publish([{ detailType: "token.revoked", detail: { clientId: "a", reason: "test" } }]);
    expect(result.failed).toEqual([0]);
  });
});
