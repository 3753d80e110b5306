// The NewStore token client over real HTTP against the local sandbox.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { NewStoreError } from "@newstore-auth/core/errors";
import { createNewStoreClient, retryAfterMs } from "@newstore-auth/core/newstore";
import type { Credentials } from "@newstore-auth/core/schemas";
import { freePort } from "@newstore-auth/local/moto";
import { type Sandbox, startSandbox } from "@newstore-auth/local/sandbox";

const SECRET = "sup3r-s3cret-value-0001";
const creds: Credentials = {
  clientId: "orders-sync",
  clientSecret: SECRET,
  tenant: "acme-sandbox",
  roles: ["iam:providers:read", "shipments:read"],
  createdAt: "2026-12-01T00:00:00.000Z",
  updatedAt: "2026-12-01T00:00:00.000Z",
};

/** A clock that only moves when the client sleeps: retries are counted, not timed. */
function virtualTime() {
  let now = 1_000_000;
  const waits: number[] = [];
  return {
    waits,
    clock: { now: () => now },
    sleep: async (ms: number) => {
      waits.push(ms);
      now += ms;
    },
  };
}

describe("NewStore token client against the sandbox", () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await startSandbox();
  });
  afterAll(() => sandbox.close());
  beforeEach(() => {
    sandbox.reset();
    sandbox.register({ clientId: creds.clientId, clientSecret: SECRET, tenant: creds.tenant, roles: creds.roles, ttlSeconds: 1234 });
  });

  const client = (extra: Parameters<typeof createNewStoreClient>[0] = {}) =>
    createNewStoreClient({ tokenUrlTemplate: sandbox.tokenUrlTemplate, ...extra });

  it("posts the client-credentials form with the roles as scope and reads expires_in", async () => {
    const token = await client().issue(creds);
    expect(token.accessToken).toBe(sandbox.issuedTokens()[0]);
    expect(token.expiresInSeconds).toBe(1234);
    expect(token.tokenType).toBe("Bearer");
    expect(sandbox.log()).toEqual([{ clientId: "orders-sync", tenant: "acme-sandbox", scope: "iam:providers:read shipments:read", status: 200 }]);
  });

  it("maps a wrong secret to NEWSTORE_REJECTED after one call, without the secret in the message", async () => {
    sandbox.register({ clientId: creds.clientId, clientSecret: "another", tenant: creds.tenant, roles: creds.roles });
    const error = await client().issue(creds).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NewStoreError);
    expect(error).toMatchObject({ code: "NEWSTORE_REJECTED", retryable: false, attempts: 1, status: 401 });
    expect((error as Error).message).toContain("invalid_client");
    expect((error as Error).message).not.toContain(SECRET);
    expect(sandbox.calls()).toBe(1);
  });

  it("maps a scope the client does not hold to NEWSTORE_REJECTED", async () => {
    const error = await client().issue({ ...creds, roles: ["iam:users:write"] }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "NEWSTORE_REJECTED", status: 400 });
    expect((error as Error).message).toContain("invalid_scope");
    expect(sandbox.calls()).toBe(1);
  });

  it("maps a realm that does not exist to NEWSTORE_REJECTED", async () => {
    const error = await client().issue({ ...creds, tenant: "nobody" }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "NEWSTORE_REJECTED", retryable: false });
  });

  it("waits Retry-After on 429, then succeeds", async () => {
    const time = virtualTime();
    sandbox.fault({ fault: { status: 429, retryAfter: "2" }, times: 1 });
    const token = await client({ clock: time.clock, sleep: time.sleep }).issue(creds);
    expect(token.accessToken).toBe(sandbox.issuedTokens()[0]);
    expect(time.waits).toEqual([2000]);
    expect(sandbox.calls()).toBe(2);
  });

  it("caps a long Retry-After", async () => {
    const time = virtualTime();
    sandbox.fault({ fault: { status: 429, retryAfter: "120" }, times: 1 });
    await client({ clock: time.clock, sleep: time.sleep, retryAfterCapMs: 3000 }).issue(creds);
    expect(time.waits).toEqual([3000]);
  });

  it("retries 5xx and malformed bodies with capped, jittered backoff", async () => {
    const time = virtualTime();
    sandbox.fault({ fault: { status: 500 }, times: 2 });
    sandbox.fault({ fault: { malformed: true }, times: 1 });
    sandbox.fault({ fault: { status: 503 }, times: 1 });
    const token = await client({ clock: time.clock, sleep: time.sleep, random: () => 1, backoffBaseMs: 100, backoffCapMs: 500 }).issue(creds);
    expect(token.accessToken).toBeTruthy();
    expect(sandbox.calls()).toBe(5);
    expect(time.waits).toEqual([100, 200, 400, 500]);
  });

  it("gives up with NEWSTORE_UNAVAILABLE inside its time budget, calls bounded", async () => {
    const time = virtualTime();
    sandbox.fault({ fault: { status: 500 }, times: Infinity });
    const error = await client({ clock: time.clock, sleep: time.sleep, budgetMs: 10_000, backoffCapMs: 2000, random: () => 1 })
      .issue(creds)
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "NEWSTORE_UNAVAILABLE", retryable: true, status: 500 });
    const waited = time.waits.reduce((a, b) => a + b, 0);
    expect(waited).toBeLessThan(10_000);
    expect(sandbox.calls()).toBe((error as NewStoreError).attempts);
    expect(sandbox.calls()).toBeLessThanOrEqual(10);
  });

  it("stops when the batch's time is up, sooner than the budget", async () => {
    const time = virtualTime();
    sandbox.fault({ fault: { status: 500 }, times: Infinity });
    const error = await client({ clock: time.clock, sleep: time.sleep, random: () => 1 })
      .issue(creds, { timeLeftMs: 500 })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "NEWSTORE_UNAVAILABLE" });
    expect(sandbox.calls()).toBeLessThanOrEqual(2);
  });

  it("times an attempt out and retries it", async () => {
    sandbox.fault({ fault: { delayMs: 1500 }, times: 1 });
    const token = await client({ attemptTimeoutMs: 200, backoffBaseMs: 1 }).issue(creds);
    expect(token.accessToken).toBeTruthy();
    expect(sandbox.calls()).toBe(2);
  });

  it("reports a refused connection as NEWSTORE_UNAVAILABLE", async () => {
    const port = await freePort();
    const error = await createNewStoreClient({
      tokenUrlTemplate: `http://127.0.0.1:${port}/auth/realms/{tenant}/protocol/openid-connect/token`,
      budgetMs: 300,
      backoffBaseMs: 20,
    })
      .issue(creds)
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "NEWSTORE_UNAVAILABLE", retryable: true });
    expect((error as Error).message).toContain("ECONNREFUSED");
  });

  it("reads Retry-After as seconds or as an HTTP date", () => {
    expect(retryAfterMs("3", 0)).toBe(3000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(retryAfterMs("soon", 0)).toBeUndefined();
    expect(retryAfterMs(null, 0)).toBeUndefined();
  });
});
