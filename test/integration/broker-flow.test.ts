// The whole path on moto and the sandbox: PutEvents token.requested -> rule -> FIFO queue ->
// poller -> real handler -> SSM -> token.ready on the bus -> reply rule -> reply queue.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { BROKER_SOURCE, DetailType, TokenFailed, TokenReady, TokenRotated, tokenParameterName } from "@newstore-auth/core";
import {
  captureOutput,
  collect,
  type Harness,
  publishRequests,
  readTokenAt,
  registerClient,
  request,
  REQUESTER,
  startHarness,
} from "../support/harness.js";

describe("broker end to end on moto", () => {
  let h: Harness;
  let output: ReturnType<typeof captureOutput>;
  const published: unknown[] = []; // every event the broker put on the bus, from the tail queue

  beforeAll(async () => {
    output = captureOutput();
    h = await startHarness();
  });
  afterAll(async () => {
    output?.restore();
    await h?.close();
  });

  it("answers a request with token.ready naming the SSM version that holds the token", async () => {
    const { replies, tail } = await h.reset();
    await registerClient(h, "orders-sync", { roles: ["iam:providers:read", "shipments:read"], ttlSeconds: 1800 });
    const asked = request("orders-sync");
    const started = Date.now();
    await publishRequests(h, [asked]);

    const [reply] = await collect(h.sqs, replies, 1);
    expect(reply).toMatchObject({ source: BROKER_SOURCE, "detail-type": DetailType.ready });
    const ready = TokenReady.parse(reply!.detail);
    expect(ready).toMatchObject({ requestId: asked.requestId, clientId: "orders-sync", requester: REQUESTER });
    expect(ready.parameterName).toBe(tokenParameterName(h.names, "orders-sync"));

    const stored = await readTokenAt(h, ready.parameterName, ready.parameterVersion);
    expect(stored.accessToken).toBe(h.sandbox.issuedTokens()[0]);
    expect(stored.expiresAt).toBe(ready.expiresAt);
    // expires_in came from NewStore (1800 s), not an assumed hour
    const lifetime = Date.parse(stored.expiresAt) - Date.parse(stored.issuedAt);
    expect(lifetime).toBe(1800_000);
    expect(Date.parse(stored.issuedAt)).toBeGreaterThanOrEqual(started - 1000);
    expect(h.sandbox.log()).toEqual([{ clientId: "orders-sync", tenant: "acme-sandbox", scope: "iam:providers:read shipments:read", status: 200 }]);

    const all = await collect(h.sqs, tail, 2);
    published.push(...all);
    expect(all.map((e) => e["detail-type"]).sort()).toEqual([DetailType.ready, DetailType.rotated]);
    const rotated = TokenRotated.parse(all.find((e) => e["detail-type"] === DetailType.rotated)!.detail);
    expect(rotated).toMatchObject({ clientId: "orders-sync", reason: "requested", parameterVersion: ready.parameterVersion });
  });

  it("herd: 200 requests for one cold client -> 200 token.ready, one version, one NewStore call", async () => {
    const { replies, tail, poller } = await h.reset();
    await registerClient(h, "herd-client");
    const asked = Array.from({ length: 200 }, () => request("herd-client"));
    await publishRequests(h, asked);

    const answers = await collect(h.sqs, replies, 200, 90_000);
    expect(answers).toHaveLength(200);
    const ready = answers.map((a) => TokenReady.parse(a.detail));
    expect(new Set(ready.map((r) => r.requestId))).toEqual(new Set(asked.map((a) => a.requestId)));
    expect(new Set(ready.map((r) => r.parameterVersion)).size).toBe(1);
    expect(h.sandbox.calls("herd-client")).toBe(1);
    expect(h.sandbox.calls()).toBe(1);
    expect(poller.stats.batches).toBeGreaterThan(1); // the herd spanned batches, yet one call
    published.push(...(await collect(h.sqs, tail, 201, 30_000)));
  });

  it("herd: 3 clients interleaved -> exactly 3 NewStore calls", async () => {
    const { replies, tail } = await h.reset();
    const clients = ["c-one", "c-two", "c-three"];
    for (const c of clients) await registerClient(h, c);
    const asked = Array.from({ length: 200 }, (_, i) => request(clients[i % 3]!));
    await publishRequests(h, asked);

    const answers = await collect(h.sqs, replies, 200, 90_000);
    const ready = answers.map((a) => TokenReady.parse(a.detail));
    expect(ready).toHaveLength(200);
    expect(new Set(ready.map((r) => r.requestId))).toEqual(new Set(asked.map((a) => a.requestId)));
    for (const c of clients) {
      const mine = ready.filter((r) => r.clientId === c);
      expect(mine).toHaveLength(asked.filter((a) => a.clientId === c).length);
      expect(new Set(mine.map((r) => r.parameterVersion)).size).toBe(1);
      expect(h.sandbox.calls(c)).toBe(1);
    }
    expect(h.sandbox.calls()).toBe(3);
    published.push(...(await collect(h.sqs, tail, 203, 30_000)));
  });

  it("NewStore 401 -> every waiting request gets NEWSTORE_REJECTED, not retryable, from one call", async () => {
    const { replies, tail, resources, poller } = await h.reset();
    await registerClient(h, "revoked-client");
    h.sandbox.register({ clientId: "revoked-client", clientSecret: "rotated-elsewhere", tenant: "acme-sandbox", roles: ["iam:providers:read"] });
    const asked = Array.from({ length: 30 }, () => request("revoked-client"));
    await publishRequests(h, asked);

    const answers = await collect(h.sqs, replies, 30);
    expect(answers).toHaveLength(30);
    for (const a of answers) {
      expect(a["detail-type"]).toBe(DetailType.failed);
      expect(TokenFailed.parse(a.detail)).toMatchObject({ clientId: "revoked-client", code: "NEWSTORE_REJECTED", retryable: false });
    }
    expect(h.sandbox.calls()).toBe(1);
    expect(h.sandbox.log()[0]!.status).toBe(401);
    expect(poller.stats.batches).toBeGreaterThanOrEqual(3); // 30 requests, at most 10 a batch
    // answered, not retried: nothing left in flight, nothing dead-lettered
    const { Attributes } = await h.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: resources.requestQueue.url, AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"] }),
    );
    expect(Attributes).toMatchObject({ ApproximateNumberOfMessages: "0", ApproximateNumberOfMessagesNotVisible: "0" });
    published.push(...(await collect(h.sqs, tail, 30)));
  });

  it("answers invalid and unknown-client requests with token.failed, and never retries them", async () => {
    const { replies, tail, poller } = await h.reset();
    await publishRequests(h, [
      { requestId: "not-a-uuid", clientId: "orders-sync", requester: REQUESTER },
      request("nobody-registered"),
      { clientId: "no-requester" }, // cannot be answered: dropped
    ]);
    const answers = await collect(h.sqs, replies, 2);
    const codes = answers.map((a) => TokenFailed.parse(a.detail)).map((f) => [f.requestId === "not-a-uuid" ? "bad" : "unknown", f.code, f.retryable]);
    expect(codes.sort()).toEqual([
      ["bad", "INVALID_REQUEST", false],
      ["unknown", "UNKNOWN_CLIENT", false],
    ]);
    expect(poller.stats.failed).toBe(0);
    expect(h.sandbox.calls()).toBe(0);
    published.push(...(await collect(h.sqs, tail, 2)));
  });

  it("never writes a client secret or an access token to a log line or an event", async () => {
    await h.stopBroker();
    const text = output.text();
    const events = JSON.stringify(published);
    // the searches below must have something to search
    expect(text).toContain("token refreshed");
    expect(published.length).toBeGreaterThan(430);
    const needles = [...h.secrets, ...h.issuedTokens()];
    expect(needles.length).toBeGreaterThanOrEqual(h.secrets.length + 5);
    const leaks = needles.filter((n) => text.includes(n) || events.includes(n));
    expect(leaks).toEqual([]);
  });
});
