import { beforeEach, describe, expect, it } from "vitest";
import { createTokenClient, type TokenClient, TokenRequestFailedError, TokenTimeoutError } from "../src/index.js";
import { createTokenClientFromEnv } from "../src/env.js";
import { FakeAws, PREFIX } from "./fake-ports.js";

describe("token client", () => {
  let aws: FakeAws;
  let tokens: TokenClient;
  const make = (extra: Partial<Parameters<typeof createTokenClient>[0]> = {}) =>
    createTokenClient({
      requester: "unit-consumer",
      busName: "bus",
      replyQueueUrl: "http://queue",
      parameterPrefix: PREFIX,
      ports: aws,
      timeoutMs: 2_000,
      rereadAfterMs: 50,
      ...extra,
    });

  beforeEach(() => {
    aws = new FakeAws();
    tokens = make();
  });

  it("serves a cold client through the broker once, then from memory", async () => {
    aws.answerEveryRequest();
    const first = await tokens.getToken("alpha");
    expect(first).toMatchObject({ clientId: "alpha", accessToken: "at-alpha-1", parameterVersion: 1, parameterName: `${PREFIX}/tokens/alpha` });
    expect(aws.published).toEqual([{ requestId: expect.any(String), clientId: "alpha", requester: "unit-consumer", minValiditySeconds: 300 }]);
    const again = await tokens.getToken("alpha");
    expect(again).toBe(first);
    expect(tokens.stats).toMatchObject({ cacheHits: 1, ssmReads: 2, requests: 1 });
  });

  it("uses a fresh token from SSM without asking the broker", async () => {
    aws.writeToken("alpha", 1000);
    const token = await tokens.getToken("alpha");
    expect(token.accessToken).toBe("at-alpha-1");
    expect(aws.published).toHaveLength(0);
    expect(tokens.stats.ssmReads).toBe(1);
  });

  it("keeps a cached token exactly while it outlives minValiditySeconds", async () => {
    aws.writeToken("alpha", 3600);
    await tokens.getToken("alpha");
    aws.advance(3600 - 300 - 1); // a little over 300 s left (real time also flows)
    await tokens.getToken("alpha");
    expect(tokens.stats.cacheHits).toBe(1);
    aws.advance(2); // under 300 s left
    aws.answerEveryRequest();
    const next = await tokens.getToken("alpha");
    expect(next.parameterVersion).toBe(2);
    expect(aws.published).toHaveLength(1);
    expect(aws.published[0]!.minValiditySeconds).toBe(300);
  });

  it("honours a per-call minValiditySeconds", async () => {
    aws.writeToken("alpha", 1000);
    aws.answerEveryRequest();
    await tokens.getToken("alpha");
    const longer = await tokens.getToken("alpha", { minValiditySeconds: 2000 });
    expect(longer.parameterVersion).toBe(2);
    expect(aws.published[0]!.minValiditySeconds).toBe(2000);
  });

  it("single-flight: 50 concurrent callers share one SSM read and one broker request", async () => {
    aws.answerEveryRequest();
    const all = await Promise.all(Array.from({ length: 50 }, () => tokens.getToken("alpha")));
    expect(new Set(all.map((t) => t.accessToken))).toEqual(new Set(["at-alpha-1"]));
    expect(aws.published).toHaveLength(1);
    expect(aws.reads).toBe(2); // the miss, then the version the reply named
  });

  it("a reply to a sibling's request for the same client serves this waiter too", async () => {
    aws.onPublish = (request) => {
      const { version, expiresAt } = aws.writeToken(request.clientId);
      aws.reply("token.ready", { requestId: crypto.randomUUID(), clientId: "alpha", requester: "unit-consumer", parameterName: `${PREFIX}/tokens/alpha`, parameterVersion: version, expiresAt });
    };
    const token = await tokens.getToken("alpha");
    expect(token.parameterVersion).toBe(1);
    expect(tokens.stats.rereads).toBe(0);
  });

  it("re-reads SSM when a sibling container took the reply", async () => {
    aws.onPublish = (request) => void aws.writeToken(request.clientId); // written, reply gone elsewhere
    const token = await tokens.getToken("alpha");
    expect(token.accessToken).toBe("at-alpha-1");
    expect(tokens.stats.rereads).toBeGreaterThanOrEqual(1);
    expect(aws.published).toHaveLength(1);
  });

  it("backs off between re-reads and gives up with TokenTimeoutError", async () => {
    tokens = make({ timeoutMs: 400 });
    const error = await tokens.getToken("alpha").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenTimeoutError);
    expect(error).toMatchObject({ clientId: "alpha", timeoutMs: 400, retryable: true });
    // after 50, 100, 200 ms, and one at the deadline (timers on a busy machine may add one or two):
    // a handful of reads, not a loop
    expect(tokens.stats.rereads).toBeGreaterThanOrEqual(2);
    expect(tokens.stats.rereads).toBeLessThanOrEqual(6);
    expect(tokens.stats.timeouts).toBe(1);
  });

  it.each([
    ["UNKNOWN_CLIENT", false],
    ["NEWSTORE_REJECTED", false],
    ["NEWSTORE_UNAVAILABLE", true],
    ["INVALID_REQUEST", false],
    ["INTERNAL", false],
  ] as const)("turns token.failed %s into TokenRequestFailedError", async (code, retryable) => {
    aws.onPublish = (request) =>
      aws.reply("token.failed", { requestId: request.requestId, clientId: "alpha", requester: "unit-consumer", code, message: `because ${code}`, retryable });
    const error = await tokens.getToken("alpha").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenRequestFailedError);
    expect(error).toMatchObject({ code, retryable, clientId: "alpha", message: `because ${code}`, requestId: aws.published[0]!.requestId });
  });

  it("ignores a token.failed answering someone else's request", async () => {
    aws.onPublish = (request) => {
      aws.reply("token.failed", { requestId: "someone-else", clientId: "alpha", requester: "unit-consumer", code: "INVALID_REQUEST", message: "x", retryable: false });
      setTimeout(() => aws.answerEveryRequest(), 0);
      setTimeout(() => aws.onPublish(request), 10);
    };
    const token = await tokens.getToken("alpha");
    expect(token.accessToken).toBe("at-alpha-1");
  });

  it("an aborted caller stops waiting; the others still get the token", async () => {
    aws.onPublish = (request) => setTimeout(() => ((aws.answerEveryRequest(), aws.onPublish(request))), 100);
    const controller = new AbortController();
    const aborted = tokens.getToken("alpha", { signal: controller.signal }).catch((e: unknown) => e);
    const patient = tokens.getToken("alpha");
    setTimeout(() => controller.abort(), 20);
    expect(await aborted).toMatchObject({ name: "AbortError" });
    expect((await patient).accessToken).toBe("at-alpha-1");
    await expect(tokens.getToken("alpha", { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: "AbortError" });
  });

  it("applies token.rotated and token.revoked to the cache (the Lambda-side helper)", async () => {
    aws.writeToken("alpha");
    await tokens.getToken("alpha");
    const { version, expiresAt } = aws.writeToken("alpha");
    const rotated = { version: "0", id: "r", "detail-type": "token.rotated", source: "newstore-auth.broker", detail: { clientId: "alpha", parameterName: `${PREFIX}/tokens/alpha`, parameterVersion: version, expiresAt, reason: "scheduled" } };
    expect(await tokens.applyEvent(rotated)).toBe(true);
    expect((await tokens.getToken("alpha")).parameterVersion).toBe(2);
    expect(tokens.stats.ssmReads).toBe(2);

    const revoked = JSON.stringify({ version: "0", id: "x", "detail-type": "token.revoked", source: "newstore-auth.broker", detail: { clientId: "alpha", reason: "credentials-deleted" } });
    expect(await tokens.applyEvent(revoked)).toBe(true);
    await tokens.getToken("alpha");
    expect(tokens.stats.ssmReads).toBe(3);
    expect(await tokens.applyEvent({ "detail-type": "token.rotated", source: "someone.else", id: "1", detail: {} })).toBe(false);
  });

  it("onRotated keeps a long-running process's cache current and tells the handler", async () => {
    aws.writeToken("alpha");
    await tokens.getToken("alpha");
    const notices: unknown[] = [];
    const subscription = tokens.onRotated((notice) => void notices.push(notice));
    const { version, expiresAt } = aws.writeToken("alpha");
    aws.reply("token.rotated", { clientId: "alpha", parameterName: `${PREFIX}/tokens/alpha`, parameterVersion: version, expiresAt, reason: "scheduled" });
    while (notices.length === 0) await new Promise((r) => setTimeout(r, 5));
    await subscription.stop();
    expect(notices).toEqual([{ clientId: "alpha", reason: "scheduled", revoked: false, parameterVersion: 2, expiresAt }]);
    const reads = tokens.stats.ssmReads;
    expect((await tokens.getToken("alpha")).parameterVersion).toBe(2);
    expect(tokens.stats.ssmReads).toBe(reads); // already in memory
  });

  it("never returns an expired token, even one the broker named", async () => {
    aws.onPublish = (request) => {
      const { version, expiresAt } = aws.writeToken(request.clientId, -1); // already expired
      aws.reply("token.ready", { requestId: request.requestId, clientId: "alpha", requester: "unit-consumer", parameterName: `${PREFIX}/tokens/alpha`, parameterVersion: version, expiresAt });
    };
    tokens = make({ timeoutMs: 300 });
    await expect(tokens.getToken("alpha")).rejects.toBeInstanceOf(TokenTimeoutError);
  });

  it("retries publishing while the bus is away, then gives up at the deadline", async () => {
    aws.answerEveryRequest();
    const publish = aws.publishRequest.bind(aws);
    let failures = 2;
    aws.publishRequest = async (detail) => {
      if (failures-- > 0) throw Object.assign(new Error("connect ECONNREFUSED"), { name: "TimeoutError" });
      return publish(detail);
    };
    expect((await tokens.getToken("alpha")).accessToken).toBe("at-alpha-1");
    expect(aws.published).toHaveLength(1);

    aws.publishRequest = async () => {
      throw Object.assign(new Error("down"), { name: "NetworkingError" });
    };
    tokens = make({ timeoutMs: 300 });
    const error = await tokens.getToken("beta").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenTimeoutError);
    expect((error as Error).message).toContain("could not publish the request: NetworkingError");
  });

  it("is configured from the environment the construct sets, and says what is missing", () => {
    expect(() => createTokenClientFromEnv({})).toThrow(/NEWSTORE_AUTH_REQUESTER, NEWSTORE_AUTH_BUS_NAME, NEWSTORE_AUTH_REPLY_QUEUE_URL, NEWSTORE_AUTH_PARAMETER_PREFIX not set/);
    const client = createTokenClientFromEnv(
      { NEWSTORE_AUTH_REQUESTER: "x", NEWSTORE_AUTH_BUS_NAME: "b", NEWSTORE_AUTH_REPLY_QUEUE_URL: "http://q", NEWSTORE_AUTH_PARAMETER_PREFIX: "/p" },
      { ports: aws },
    );
    expect(typeof client.getToken).toBe("function");
    expect(() => make({ requester: "has spaces" })).toThrow(/requester/);
  });
});
