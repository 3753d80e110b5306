// Faults on the real path (moto + the sandbox): every request gets exactly one answer, no
// consumer gets an expired token, NewStore calls stay bounded, and nothing is lost.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { SSMClient } from "@aws-sdk/client-ssm";
import { brokerQueue, createBroker, DetailType, Env, type EventEnvelope, TokenFailed, TokenReady } from "@newstore-auth/core";
import { ssmParameterStore } from "@newstore-auth/core/aws/ssm";
import { createNewStoreClient } from "@newstore-auth/core/newstore";
import { silentLogger } from "@newstore-auth/core/ports";
import { createTokenClient } from "@newstore-auth/client";
import { awsPorts } from "@newstore-auth/client/aws";
import { createBrokerHandler } from "@newstore-auth/functions/broker";
import { freePort } from "@newstore-auth/local/moto";
import { startPoller } from "@newstore-auth/local/poller";
import { captureOutput, collect, type Harness, type Provisioned, publishRequests, readTokenAt, registerClient, request, REQUESTER, startHarness } from "../support/harness.js";
import { startProxy } from "../support/proxy.js";

// Short NewStore timings keep the suite fast; the logic is the same at production values.
const FAST = { [Env.newstoreAttemptTimeoutMs]: "400", [Env.newstoreBudgetMs]: "2500" };

describe("faults on moto + the sandbox", () => {
  let h: Harness;
  let output: ReturnType<typeof captureOutput>;
  beforeAll(async () => {
    output = captureOutput();
    h = await startHarness("faults");
  });
  afterAll(async () => {
    output?.restore();
    await h?.close();
  });

  /** Publishes n requests, collects their answers, then listens a little longer for extras. */
  async function askAndCollect(env: Provisioned, clientId: string, n: number, extra = 1500) {
    const asked = Array.from({ length: n }, () => request(clientId));
    await publishRequests(h, asked);
    const answers = await collect(h.sqs, env.replies, n, 60_000);
    answers.push(...(await collect(h.sqs, env.replies, 1, extra)));
    const received = Date.now();
    const byRequest = new Map<string, EventEnvelope[]>();
    for (const a of answers) {
      const id = (a.detail as { requestId: string }).requestId;
      byRequest.set(id, [...(byRequest.get(id) ?? []), a]);
    }
    // exactly one answer for every request, none for anything else
    expect([...byRequest.keys()].sort()).toEqual(asked.map((a) => a.requestId).sort());
    expect([...byRequest.values()].every((list) => list.length === 1)).toBe(true);
    return { answers, received };
  }

  async function expectReadyAndUnexpired(answers: EventEnvelope[], received: number) {
    for (const a of answers) {
      expect(a["detail-type"]).toBe(DetailType.ready);
      const ready = TokenReady.parse(a.detail);
      const stored = await readTokenAt(h, ready.parameterName, ready.parameterVersion);
      expect(Date.parse(stored.expiresAt)).toBeGreaterThan(received);
    }
  }

  it.each([
    ["429 with Retry-After", { status: 429, retryAfter: "1" }, 1, 2],
    ["a burst of 500s", { status: 500 }, 3, 4],
    ["a hang longer than the attempt timeout", { delayMs: 1500 }, 1, 2],
    ["a body that is not JSON", { malformed: true }, 1, 2],
  ] as const)("NewStore %s: retried, every request answered once with a valid token", async (_, fault, times, calls) => {
    const env = await h.reset({ brokerEnv: FAST });
    await registerClient(h, "flaky");
    h.sandbox.fault({ fault, times });
    const { answers, received } = await askAndCollect(env, "flaky", 10);
    await expectReadyAndUnexpired(answers, received);
    expect(h.sandbox.calls()).toBe(calls);
  });

  it("NewStore refusing connections: NEWSTORE_UNAVAILABLE, retryable, within the time budget", async () => {
    const closed = `http://127.0.0.1:${await freePort()}/auth/realms/{tenant}/protocol/openid-connect/token`;
    const env = await h.reset({ brokerEnv: { ...FAST, [Env.tokenUrl]: closed } });
    await registerClient(h, "unreachable");
    const started = Date.now();
    const { answers } = await askAndCollect(env, "unreachable", 10);
    for (const a of answers) expect(TokenFailed.parse(a.detail)).toMatchObject({ code: "NEWSTORE_UNAVAILABLE", retryable: true });
    // one or two batches, each bounded by the 2.5 s budget, plus moto's delivery time
    expect(Date.now() - started).toBeLessThan(2 * 2500 + 8000);
  });

  it("NewStore answering 500 for good: NEWSTORE_UNAVAILABLE, calls bounded by the budget", async () => {
    const env = await h.reset({ brokerEnv: FAST });
    await registerClient(h, "down");
    h.sandbox.fault({ fault: { status: 500 }, times: Number.POSITIVE_INFINITY });
    const { answers } = await askAndCollect(env, "down", 10);
    for (const a of answers) expect(TokenFailed.parse(a.detail)).toMatchObject({ code: "NEWSTORE_UNAVAILABLE", retryable: true });
    // at most two batches; backoff from 200 ms doubling within 2.5 s allows at most ~6 attempts each
    expect(h.sandbox.calls()).toBeGreaterThan(1);
    expect(h.sandbox.calls()).toBeLessThanOrEqual(2 * 8);
  });

  it("NewStore down while the stored token is inside the margin: served until it expires, never after", async () => {
    let now = Date.now();
    const env = await h.reset({ brokerEnv: FAST, clock: { now: () => now } });
    await registerClient(h, "fallback", { ttlSeconds: 3600 });
    const first = await askAndCollect(env, "fallback", 1);
    const v1 = TokenReady.parse(first.answers[0]!.detail);
    h.sandbox.fault({ fault: { status: 503 }, times: Number.POSITIVE_INFINITY });
    now += 3500_000; // 100 s left: inside the 300 s margin, not expired
    const inside = await askAndCollect(env, "fallback", 3);
    for (const a of inside.answers) expect(TokenReady.parse(a.detail).parameterVersion).toBe(v1.parameterVersion);
    now += 100_000; // expired now
    const after = await askAndCollect(env, "fallback", 3);
    for (const a of after.answers) expect(TokenFailed.parse(a.detail).code).toBe("NEWSTORE_UNAVAILABLE");
  });

  it("the broker dies after writing SSM and before publishing: redelivery answers all, NewStore is not called again", async () => {
    let died = false;
    const env = await h.reset({
      handler: (container) => {
        const next = container();
        // the first container writes the token, then dies before its events go out
        const dying = createBroker(
          { names: h.names },
          {
            parameters: ssmParameterStore(new SSMClient({ maxAttempts: 1 })),
            events: { publish: async () => ((died = true), Promise.reject(new Error("container died"))) },
            newstore: createNewStoreClient({ tokenUrlTemplate: h.sandbox.tokenUrlTemplate }),
            clock: { now: () => Date.now() },
            log: silentLogger,
          },
        );
        return async (event, context) => {
          if (!died) {
            await dying.handleBatch(event.Records.map((r) => ({ messageId: r.messageId, body: r.body })));
          }
          return next(event, context); // a new container takes the redelivery
        };
      },
    });
    await registerClient(h, "phoenix");
    const { answers, received } = await askAndCollect(env, "phoenix", 10);
    expect(died).toBe(true);
    await expectReadyAndUnexpired(answers, received);
    expect(new Set(answers.map((a) => TokenReady.parse(a.detail).parameterVersion))).toEqual(new Set([1]));
    expect(h.sandbox.calls()).toBe(1);
  });

  it("the same SQS message twice and the same event published twice: one NewStore call, answers repeat the same token", async () => {
    const env = await h.reset();
    await registerClient(h, "twice");
    const asked = request("twice");
    const body = JSON.stringify({ version: "0", id: randomUUID(), "detail-type": DetailType.requested, source: "it.consumer", time: new Date().toISOString(), detail: asked });
    for (const dedup of ["a", "b"]) {
      await h.sqs.send(new SendMessageCommand({ QueueUrl: env.resources.requestQueue.url, MessageBody: body, MessageGroupId: brokerQueue.messageGroupId, MessageDeduplicationId: dedup }));
    }
    const again = request("twice");
    await publishRequests(h, [again, again]);
    const answers = await collect(h.sqs, env.replies, 4, 30_000);
    expect(answers.map((a) => (a.detail as { requestId: string }).requestId).sort()).toEqual([asked.requestId, asked.requestId, again.requestId, again.requestId].sort());
    expect(new Set(answers.map((a) => TokenReady.parse(a.detail).parameterVersion))).toEqual(new Set([1]));
    expect(h.sandbox.calls()).toBe(1);

    // a consumer whose reply comes twice resolves once, and the extra reply does no harm later
    const tokens = createTokenClient({ requester: REQUESTER, busName: h.names.busName, replyQueueUrl: env.replies.url, parameterPrefix: h.names.parameterPrefix });
    const [t1, t2] = await Promise.all([tokens.getToken("twice"), tokens.getToken("twice")]);
    expect(t1).toBe(t2);
    expect(tokens.stats.requests).toBe(0); // SSM had it
  });

  it("the AWS endpoint goes away for a while: poller and consumer back off and recover, nothing lost", async () => {
    const env = await h.reset();
    await h.stopBroker(); // this test's broker and consumer go through the proxy
    await registerClient(h, "outage");
    const proxy = await startProxy(h.moto.endpoint);
    const config = { endpoint: proxy.url, maxAttempts: 1 };
    const sqs = new SQSClient(config);
    const handler = createBrokerHandler({ env: { [Env.stage]: h.names.stage, [Env.tokenUrl]: h.sandbox.tokenUrlTemplate } });
    // the handler's own clients read AWS_ENDPOINT_URL when it builds them: point it at the proxy
    const direct = process.env.AWS_ENDPOINT_URL;
    process.env.AWS_ENDPOINT_URL = proxy.url;
    let maxErrors = 0;
    const poller = startPoller({ sqs, queueUrl: env.resources.requestQueue.url, queueArn: env.resources.requestQueue.arn, region: "us-east-1", handler });
    const watch = setInterval(() => (maxErrors = Math.max(maxErrors, poller.stats.receiveErrors)), 50);
    const clients = { sqs: new SQSClient(config), ssm: new SSMClient(config), events: new EventBridgeClient(config) };
    const settings = { requester: REQUESTER, busName: h.names.busName, replyQueueUrl: env.replies.url, parameterPrefix: h.names.parameterPrefix };
    const tokens = createTokenClient({ ...settings, timeoutMs: 20_000, ports: awsPorts(clients, { ...settings, source: REQUESTER }) });
    try {
      await proxy.pause();
      const pending = tokens.getToken("outage");
      pending.catch(() => undefined); // awaited below; no unhandled rejection while it waits
      await new Promise((r) => setTimeout(r, 2500));
      await proxy.resume();
      const token = await pending;
      expect(token.clientId).toBe("outage");
      expect(maxErrors).toBeGreaterThan(0); // it did see the outage
      expect(h.sandbox.calls()).toBe(1);
    } finally {
      clearInterval(watch);
      await poller.stop();
      process.env.AWS_ENDPOINT_URL = direct;
      Object.values(clients).forEach((c) => c.destroy());
      sqs.destroy();
      await proxy.close();
    }
  });
});
