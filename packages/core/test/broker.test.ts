import { randomUUID } from "node:crypto";
import { beforeEach, describe, expect, it } from "vitest";
import { type Broker, createBroker } from "../src/broker.js";
import { fifoFailures } from "../src/messages.js";
import { TokenFailed, TokenReady, TokenRotated } from "../src/schemas.js";
import { credentialsParameterName, InternalDetailType, namesFor, refreshDueMessage, tokenParameterName, workItem } from "../src/settings.js";
import {
  CapturingLogger,
  credentials,
  FakeClock,
  freshPorts,
  MemoryParameters,
  RecordingPublisher,
  rejected,
  requestMessage,
  ScriptedIssuer,
  unavailable,
} from "./memory-ports.js";

const names = namesFor("test");
const request = (clientId: string, extra: Record<string, unknown> = {}) =>
  requestMessage({ requestId: randomUUID(), clientId, requester: "orders-sync", ...extra });

describe("broker logic", () => {
  let clock: FakeClock;
  let parameters: MemoryParameters;
  let events: RecordingPublisher;
  let newstore: ScriptedIssuer;
  let log: CapturingLogger;
  let broker: Broker;
  const secrets: string[] = [];

  const newBroker = () => createBroker({ names }, { parameters, events, newstore, clock, log });
  const register = async (clientId: string) => {
    const c = credentials(clientId, clock.now());
    secrets.push(c.clientSecret);
    await parameters.put(credentialsParameterName(names, clientId), JSON.stringify(c));
    parameters.puts = 0;
    return c;
  };

  beforeEach(async () => {
    ({ clock, parameters, events, newstore, log } = freshPorts());
    broker = newBroker();
    await register("alpha");
    await register("beta");
  });

  it("answers a herd for a cold client with one NewStore call, one write and one rotation", async () => {
    const messages = Array.from({ length: 10 }, () => request("alpha"));
    const result = await broker.handleBatch(messages);

    expect(result.failedMessageIds).toEqual([]);
    expect(newstore.calls).toHaveLength(1);
    expect(parameters.tokenPuts).toBe(1);
    const ready = events.of("token.ready");
    expect(ready.map((r) => r.requestId).sort()).toEqual(messages.map((m) => JSON.parse(m.body).detail.requestId).sort());
    expect(new Set(ready.map((r) => r.parameterVersion))).toEqual(new Set([1]));
    for (const r of ready) expect(TokenReady.parse(r)).toEqual(r);
    const [rotated] = events.of("token.rotated");
    expect(TokenRotated.parse(rotated)).toMatchObject({ clientId: "alpha", reason: "requested", parameterVersion: 1 });
    const stored = JSON.parse(parameters.values.get(tokenParameterName(names, "alpha"))!.value);
    expect(stored.accessToken).toBe(newstore.issued[0]);
    expect(stored.expiresAt).toBe(new Date(clock.now() + 3600_000).toISOString());
    expect(rotated!.expiresAt).toBe(stored.expiresAt);
  });

  it("reads expires_in rather than assuming an hour", async () => {
    newstore.ttlSeconds = 900;
    await broker.handleBatch([request("alpha")]);
    expect(events.of("token.ready")[0]!.expiresAt).toBe(new Date(clock.now() + 900_000).toISOString());
  });

  it("serves a fresh token from memory without reading SSM or calling NewStore", async () => {
    await broker.handleBatch([request("alpha")]);
    const gets = parameters.gets;
    await broker.handleBatch([request("alpha"), request("alpha")]);
    expect(newstore.calls).toHaveLength(1);
    expect(parameters.gets).toBe(gets);
    expect(events.of("token.ready")).toHaveLength(3);
    expect(events.of("token.rotated")).toHaveLength(1);
  });

  it("serves a token that stays valid exactly the margin, and refreshes one second short of it", async () => {
    await broker.handleBatch([request("alpha")]);
    clock.advance(3600 - 300); // exactly 300 s left
    await broker.handleBatch([request("alpha")]);
    expect(newstore.calls).toHaveLength(1);
    clock.advance(1); // 299 s left
    await broker.handleBatch([request("alpha")]);
    expect(newstore.calls).toHaveLength(2);
    const versions = events.of("token.ready").map((r) => r.parameterVersion);
    expect(versions).toEqual([1, 1, 2]);
  });

  it("honours a request's minValiditySeconds above the margin", async () => {
    await broker.handleBatch([request("alpha")]);
    clock.advance(3000); // 600 s left
    await broker.handleBatch([request("alpha", { minValiditySeconds: 600 })]);
    expect(newstore.calls).toHaveLength(1);
    await broker.handleBatch([request("alpha", { minValiditySeconds: 601 })]);
    expect(newstore.calls).toHaveLength(2);
  });

  it("takes the largest minValiditySeconds of a client's requests in the batch", async () => {
    await broker.handleBatch([request("alpha")]);
    clock.advance(3000); // 600 s left
    await broker.handleBatch([request("alpha", { minValiditySeconds: 100 }), request("alpha", { minValiditySeconds: 700 })]);
    expect(newstore.calls).toHaveLength(2);
    expect(new Set(events.of("token.ready").slice(1).map((r) => r.parameterVersion))).toEqual(new Set([2]));
  });

  it("does not call NewStore on every request when the ask exceeds the token's lifetime", async () => {
    newstore.ttlSeconds = 120; // shorter than the 300 s margin
    await broker.handleBatch([request("alpha")]);
    clock.advance(30);
    await broker.handleBatch([request("alpha")]);
    expect(newstore.calls).toHaveLength(1);
    clock.advance(31); // 59 s left: below the capped ask (60 s)
    await broker.handleBatch([request("alpha")]);
    expect(newstore.calls).toHaveLength(2);
  });

  it("groups a batch by client: one decision and one NewStore call per client", async () => {
    const messages = [request("alpha"), request("beta"), request("alpha"), request("beta"), request("alpha")];
    await broker.handleBatch(messages);
    expect(newstore.calls.map((c) => c.clientId).sort()).toEqual(["alpha", "beta"]);
    const ready = events.of("token.ready");
    expect(ready.filter((r) => r.clientId === "alpha")).toHaveLength(3);
    expect(ready.filter((r) => r.clientId === "beta")).toHaveLength(2);
    for (const r of ready) expect(r.parameterName).toBe(tokenParameterName(names, r.clientId));
  });

  it("honours forceRefresh at most once per client per 60 s", async () => {
    await broker.handleBatch([request("alpha")]);
    clock.advance(30);
    await broker.handleBatch([request("alpha", { forceRefresh: true })]);
    expect(newstore.calls).toHaveLength(1);
    clock.advance(30); // 60 s after the token was issued
    await broker.handleBatch([request("alpha", { forceRefresh: true }), request("alpha", { forceRefresh: true })]);
    expect(newstore.calls).toHaveLength(2);
    expect(events.of("token.rotated").map((r) => r.reason)).toEqual(["requested", "forced"]);
    clock.advance(59);
    await broker.handleBatch([request("alpha", { forceRefresh: true })]);
    expect(newstore.calls).toHaveLength(2);
  });

  it("makes the forceRefresh interval configurable", async () => {
    broker = createBroker({ names, forceRefreshIntervalSeconds: 5 }, { parameters, events, newstore, clock, log });
    await broker.handleBatch([request("alpha")]);
    clock.advance(5);
    await broker.handleBatch([request("alpha", { forceRefresh: true })]);
    expect(newstore.calls).toHaveLength(2);
  });

  it("answers an invalid request with INVALID_REQUEST and never retries it", async () => {
    const bad = request("alpha", { requestId: "not-a-uuid", minValiditySeconds: "soon" });
    const result = await broker.handleBatch([bad]);
    expect(result.failedMessageIds).toEqual([]);
    expect(newstore.calls).toHaveLength(0);
    const [failed] = events.of("token.failed");
    expect(TokenFailed.parse(failed)).toMatchObject({ requestId: "not-a-uuid", code: "INVALID_REQUEST", retryable: false, requester: "orders-sync" });
    expect(failed!.message).toMatch(/requestId/);
    expect(failed!.message).toMatch(/minValiditySeconds/);
  });

  it("drops, with an error log, a message it cannot answer", async () => {
    const messages = [
      { messageId: "m1", body: "{not json" },
      requestMessage({ clientId: "alpha" }), // no requester, no requestId
      requestMessage({ requestId: randomUUID(), clientId: "alpha", requester: "x y" }), // requester not routable
    ];
    const result = await broker.handleBatch(messages);
    expect(result.failedMessageIds).toEqual([]);
    expect(events.published).toHaveLength(0);
    expect(log.lines.filter((l) => l.message === "unanswerable message dropped")).toHaveLength(3);
  });

  it("answers an unknown client with UNKNOWN_CLIENT, not retryable", async () => {
    await broker.handleBatch([request("gamma"), request("gamma")]);
    const failed = events.of("token.failed");
    expect(failed).toHaveLength(2);
    for (const f of failed) expect(f).toMatchObject({ clientId: "gamma", code: "UNKNOWN_CLIENT", retryable: false });
    expect(newstore.calls).toHaveLength(0);
  });

  it("answers unreadable stored credentials with INTERNAL and logs no secret", async () => {
    await parameters.put(credentialsParameterName(names, "alpha"), JSON.stringify({ clientId: "alpha", clientSecret: "s3cr3t-value" }));
    await broker.handleBatch([request("alpha")]);
    expect(events.of("token.failed")[0]).toMatchObject({ code: "INTERNAL", retryable: false });
    expect(JSON.stringify(log.lines)).not.toContain("s3cr3t-value");
  });

  it.each([
    ["NEWSTORE_REJECTED", rejected, false],
    ["NEWSTORE_UNAVAILABLE", unavailable, true],
  ] as const)("answers %s from NewStore to every waiting request of the client", async (code, error, retryable) => {
    newstore.script = [error()];
    const result = await broker.handleBatch([request("alpha"), request("alpha"), request("alpha")]);
    expect(result.failedMessageIds).toEqual([]);
    expect(newstore.calls).toHaveLength(1);
    const failed = events.of("token.failed");
    expect(failed).toHaveLength(3);
    for (const f of failed) expect(f).toMatchObject({ code, retryable });
    expect(events.of("token.ready")).toHaveLength(0);
    expect(parameters.tokenPuts).toBe(0);
  });

  it("remembers a rejection: no second NewStore call until the credentials change or the hold passes", async () => {
    newstore.script = [rejected()];
    await broker.handleBatch([request("alpha"), request("alpha")]);
    await broker.handleBatch([request("alpha")]);
    expect(newstore.calls).toHaveLength(1);
    expect(events.of("token.failed").map((f) => f.code)).toEqual(Array(3).fill("NEWSTORE_REJECTED"));

    clock.advance(60); // the hold (60 s by default) has passed
    await broker.handleBatch([request("alpha")]);
    expect(newstore.calls).toHaveLength(2);
    expect(events.of("token.ready")).toHaveLength(1);

    newstore.script = [rejected()];
    clock.advance(4000); // expired: asks again, is rejected
    await broker.handleBatch([request("alpha")]);
    clock.advance(1);
    await register("alpha"); // new credentials (another updatedAt): asked at once
    await broker.handleBatch([request("alpha")]);
    expect(newstore.calls).toHaveLength(4);
    expect(events.of("token.ready")).toHaveLength(2);
  });

  it("serves the stored token, with a warning, when NewStore fails before it has expired", async () => {
    await broker.handleBatch([request("alpha")]);
    clock.advance(3500); // 100 s left: inside the margin, not expired
    newstore.script = [unavailable()];
    await broker.handleBatch([request("alpha")]);
    expect(events.of("token.ready").map((r) => r.parameterVersion)).toEqual([1, 1]);
    expect(log.lines.some((l) => l.level === "warn" && /serving the stored token/.test(l.message))).toBe(true);

    clock.advance(100); // expired now
    newstore.script = [unavailable()];
    await broker.handleBatch([request("alpha")]);
    expect(events.of("token.failed")).toHaveLength(1);
    expect(events.of("token.ready")).toHaveLength(2);
  });

  it("does not call NewStore for a redelivered request whose token is fresh, warm or cold", async () => {
    const message = request("alpha");
    await broker.handleBatch([message]);
    await broker.handleBatch([message]);
    expect(newstore.calls).toHaveLength(1);

    const cold = newBroker(); // a new container: memory empty, SSM holds the token
    await cold.handleBatch([message]);
    expect(newstore.calls).toHaveLength(1);
    expect(events.of("token.ready").map((r) => r.parameterVersion)).toEqual([1, 1, 1]);
  });

  it("re-reads SSM before refreshing when its memory is stale", async () => {
    await broker.handleBatch([request("alpha")]);
    const other = newBroker(); // e.g. the container of the previous deployment
    clock.advance(3400);
    await other.handleBatch([request("alpha")]); // refreshes: version 2
    await broker.handleBatch([request("alpha")]);
    expect(newstore.calls).toHaveLength(2);
    expect(events.of("token.ready").map((r) => r.parameterVersion)).toEqual([1, 2, 2]);
  });

  it("hands messages back to SQS when AWS fails, in FIFO order", async () => {
    const messages = [request("beta"), request("alpha"), request("beta")];
    parameters.failNextGet = Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
    const result = await broker.handleBatch(messages);
    // beta's read failed first (clients are served in order of first appearance)
    expect(result.failedMessageIds).toEqual(messages.map((m) => m.messageId));
    expect(events.of("token.ready").every((r) => r.clientId === "alpha")).toBe(true);
  });

  it("fails a message whose answer could not be published, and every message after it", async () => {
    const messages = [request("alpha"), request("alpha"), request("alpha")];
    events.failIndexes = [2]; // [rotated, ready#0, ready#1, ready#2]
    const result = await broker.handleBatch(messages);
    expect(result.failedMessageIds).toEqual([messages[1]!.messageId, messages[2]!.messageId]);
    // redelivered: answered from the fresh token, no second NewStore call
    await broker.handleBatch(messages.slice(1));
    expect(newstore.calls).toHaveLength(1);
  });

  it("logs, but does not retry, a rotation event it could not publish", async () => {
    events.failIndexes = [0];
    const result = await broker.handleBatch([request("alpha")]);
    expect(result.failedMessageIds).toEqual([]);
    expect(log.lines.some((l) => l.level === "error" && l.message === "event could not be published")).toBe(true);
  });

  it("never puts a secret or an access token in an event or a log line", async () => {
    newstore.script = [rejected()];
    await broker.handleBatch([request("alpha"), request("beta"), request("gamma"), request("beta", { requestId: 5 })]);
    clock.advance(4000);
    await broker.handleBatch([request("alpha"), request("beta", { forceRefresh: true })]);
    const output = JSON.stringify(events.published) + JSON.stringify(log.lines);
    expect(newstore.issued.length).toBeGreaterThan(0);
    for (const needle of [...secrets, ...newstore.issued]) expect(output).not.toContain(needle);
  });
});

describe("fifoFailures", () => {
  it("fails everything from the first failure on", () => {
    expect(fifoFailures(["a", "b", "c", "d"], new Set(["c"]))).toEqual(["c", "d"]);
    expect(fifoFailures(["a", "b"], new Set())).toEqual([]);
    expect(fifoFailures(["a", "b", "c"], new Set(["a", "c"]))).toEqual(["a", "b", "c"]);
  });
});

describe("scheduled refresh (token.refresh-due)", () => {
  let clock: FakeClock;
  let parameters: MemoryParameters;
  let events: RecordingPublisher;
  let newstore: ScriptedIssuer;
  let log: CapturingLogger;
  let broker: Broker;
  const newBroker = () => createBroker({ names }, { parameters, events, newstore, clock, log });
  const tick = () => ({ messageId: randomUUID(), body: JSON.stringify(refreshDueMessage(randomUUID(), new Date(clock.now()).toISOString())) });

  beforeEach(async () => {
    ({ clock, parameters, events, newstore, log } = freshPorts());
    broker = newBroker();
    for (const id of ["alpha", "beta"]) {
      await parameters.put(credentialsParameterName(names, id), JSON.stringify(credentials(id, clock.now())));
    }
  });

  it("refreshes a used client's token once it expires within refreshAheadSeconds (600)", async () => {
    await broker.handleBatch([request("alpha")]);
    clock.advance(3600 - 601);
    await broker.handleBatch([tick()]);
    expect(newstore.calls).toHaveLength(1);
    clock.advance(1); // 600 s left
    const result = await broker.handleBatch([tick()]);
    expect(result.failedMessageIds).toEqual([]);
    expect(newstore.calls).toHaveLength(2);
    expect(events.of("token.rotated").map((r) => [r.reason, r.parameterVersion])).toEqual([
      ["requested", 1],
      ["scheduled", 2],
    ]);
    expect(events.of("token.ready")).toHaveLength(1); // nobody asked: no ready
  });

  it("stops refreshing a client not requested within the idle window (24 h)", async () => {
    await broker.handleBatch([request("alpha")]);
    let calls = 0;
    // tick every 5 minutes for 26 hours, as the schedule does
    for (let t = 300; t <= 26 * 3600; t += 300) {
      clock.advance(300);
      await broker.handleBatch([tick()]);
      calls = newstore.calls.length;
      if (t > 24 * 3600 + 3600) break;
    }
    const lastScheduled = events.of("token.rotated").filter((r) => r.reason === "scheduled");
    expect(lastScheduled.length).toBeGreaterThan(0);
    const lastIssued = Date.parse(lastScheduled.at(-1)!.expiresAt) - 3600_000;
    expect(lastIssued).toBeLessThanOrEqual(Date.parse("2026-12-04T12:00:00.000Z") + 24 * 3600_000);
    expect(calls).toBe(1 + lastScheduled.length);
  });

  it("does not refresh a client that was never served", async () => {
    await broker.handleBatch([request("gamma")]); // unknown client
    newstore.script = [rejected()];
    await broker.handleBatch([request("beta")]); // rejected
    clock.advance(3500);
    await broker.handleBatch([tick()]);
    expect(newstore.calls).toHaveLength(1);
    expect(events.of("token.rotated")).toHaveLength(0);
  });

  it("remembers usage across a cold start, writing it at most once an hour per client", async () => {
    await broker.handleBatch([request("alpha")]);
    clock.advance(60);
    await broker.handleBatch([request("alpha"), request("alpha")]);
    expect(parameters.putNames.filter((n) => n.endsWith("/usage/alpha"))).toHaveLength(1);
    clock.advance(3600);
    await broker.handleBatch([request("alpha")]); // refreshes (token was 5 min from expiry), records usage
    expect(parameters.putNames.filter((n) => n.endsWith("/usage/alpha"))).toHaveLength(2);

    const cold = newBroker();
    clock.advance(3000); // 600 s left on the token issued an hour ago
    await cold.handleBatch([tick()]);
    expect(events.of("token.rotated").map((r) => r.reason)).toEqual(["requested", "requested", "scheduled"]);
  });

  it("ignores a refresh-due that does not come from the broker's own source", async () => {
    await broker.handleBatch([request("alpha")]);
    clock.advance(3300);
    const forged = requestMessage({ requestId: randomUUID(), clientId: "alpha", requester: "orders-sync" }, "token.refresh-due");
    await broker.handleBatch([forged]);
    expect(newstore.calls).toHaveLength(1);
    expect(events.of("token.failed")[0]).toMatchObject({ code: "INVALID_REQUEST" });
  });

  it("treats a failed scheduled refresh as the next tick's work, not a failed message", async () => {
    await broker.handleBatch([request("alpha"), request("beta")]);
    clock.advance(3300);
    newstore.script = [unavailable()];
    const result = await broker.handleBatch([tick(), tick()]);
    expect(result.failedMessageIds).toEqual([]);
    expect(newstore.calls).toHaveLength(4); // one failed, one refreshed: one call each, not one per tick
    expect(events.of("token.rotated").filter((r) => r.reason === "scheduled")).toHaveLength(1);
    clock.advance(300);
    await broker.handleBatch([tick()]);
    expect(events.of("token.rotated").filter((r) => r.reason === "scheduled")).toHaveLength(2);
  });

  it("leaves scheduled work to the next tick when the batch's time is up", async () => {
    await broker.handleBatch([request("alpha")]);
    clock.advance(3300);
    const result = await broker.handleBatch([tick()], { timeLeftMs: () => 0 });
    expect(result.failedMessageIds).toEqual([]);
    expect(newstore.calls).toHaveLength(1);
    expect(log.lines.some((l) => l.message.startsWith("scheduled refresh ran out of time"))).toBe(true);
  });

  it("serves requests and the schedule in one batch without refreshing a client twice", async () => {
    await broker.handleBatch([request("alpha")]);
    clock.advance(3400);
    await broker.handleBatch([tick(), request("alpha")]);
    expect(newstore.calls).toHaveLength(2);
    expect(events.of("token.rotated").map((r) => r.reason)).toEqual(["requested", "requested"]);
  });
});

describe("admin work items", () => {
  let clock: FakeClock;
  let parameters: MemoryParameters;
  let events: RecordingPublisher;
  let newstore: ScriptedIssuer;
  let log: CapturingLogger;
  let broker: Broker;
  const item = (detailType: string, clientId: string) => ({
    messageId: randomUUID(),
    body: JSON.stringify(workItem(detailType, { clientId }, randomUUID(), new Date(clock.now()).toISOString())),
  });

  beforeEach(async () => {
    ({ clock, parameters, events, newstore, log } = freshPorts());
    broker = createBroker({ names }, { parameters, events, newstore, clock, log });
    await parameters.put(credentialsParameterName(names, "alpha"), JSON.stringify(credentials("alpha", clock.now())));
  });

  it("credentials.changed refreshes an existing token at once (reason credentials-changed), ignoring the force interval", async () => {
    await broker.handleBatch([request("alpha")]);
    clock.advance(5);
    const result = await broker.handleBatch([item(InternalDetailType.credentialsChanged, "alpha")]);
    expect(result.failedMessageIds).toEqual([]);
    expect(newstore.calls).toHaveLength(2);
    expect(events.of("token.rotated").map((r) => [r.reason, r.parameterVersion])).toEqual([
      ["requested", 1],
      ["credentials-changed", 2],
    ]);
    await broker.handleBatch([request("alpha")]);
    expect(newstore.calls).toHaveLength(2); // served from the refreshed token
  });

  it("credentials.changed for a client without a token does nothing; a rejection of the new ones is logged", async () => {
    await broker.handleBatch([item(InternalDetailType.credentialsChanged, "alpha")]);
    expect(newstore.calls).toHaveLength(0);
    await broker.handleBatch([request("alpha")]);
    newstore.script = [rejected()];
    await broker.handleBatch([item(InternalDetailType.credentialsChanged, "alpha")]);
    expect(log.lines.some((l) => l.level === "error" && /could not be refreshed/.test(l.message))).toBe(true);
    expect(events.of("token.rotated")).toHaveLength(1);
  });

  it("credentials.deleted removes the token and usage record and publishes token.revoked", async () => {
    await broker.handleBatch([request("alpha")]);
    const result = await broker.handleBatch([item(InternalDetailType.credentialsDeleted, "alpha")]);
    expect(result.failedMessageIds).toEqual([]);
    expect(parameters.values.has(tokenParameterName(names, "alpha"))).toBe(false);
    expect([...parameters.values.keys()].some((k) => k.includes("/usage/"))).toBe(false);
    expect(events.of("token.revoked")).toEqual([{ clientId: "alpha", reason: "credentials-deleted" }]);
    expect(broker.memory.has("alpha")).toBe(false);
    clock.advance(3500);
    await broker.handleBatch([tickMessage(clock)]);
    expect(newstore.calls).toHaveLength(1); // no longer kept warm
  });

  it("redelivers a work item that failed on AWS, and the requests after it", async () => {
    await broker.handleBatch([request("alpha")]);
    const deleted = item(InternalDetailType.credentialsDeleted, "alpha");
    const after = request("alpha");
    parameters.delete = async () => {
      throw Object.assign(new Error("throttled"), { name: "ThrottlingException" });
    };
    const result = await broker.handleBatch([deleted, after]);
    expect(result.failedMessageIds).toEqual([deleted.messageId, after.messageId]);
  });

  it("drops a work item it cannot read, and one not from the broker's own source", async () => {
    const unreadable = { messageId: "w1", body: JSON.stringify(workItem(InternalDetailType.credentialsDeleted, { clientId: "a/b" }, "i", "t")) };
    const forged = requestMessage({ clientId: "alpha" }, InternalDetailType.credentialsDeleted);
    const result = await broker.handleBatch([unreadable, forged]);
    expect(result.failedMessageIds).toEqual([]);
    expect(events.published).toHaveLength(0);
    expect(parameters.values.has(credentialsParameterName(names, "alpha"))).toBe(true);
  });
});

function tickMessage(clock: FakeClock) {
  return { messageId: randomUUID(), body: JSON.stringify(refreshDueMessage(randomUUID(), new Date(clock.now()).toISOString())) };
}
