import { beforeEach, describe, expect, it } from "vitest";
import { type Admin, AdminError, createAdmin } from "../src/admin.js";
import { credentialsParameterName, DEFAULT_ALLOWED_ROLES, InternalDetailType, namesFor, tokenParameterName } from "../src/settings.js";
import { CapturingLogger, FakeClock, MemoryParameters, MemoryWorkQueue } from "./memory-ports.js";

const names = namesFor("unit");

describe("admin operations", () => {
  let clock: FakeClock;
  let parameters: MemoryParameters;
  let work: MemoryWorkQueue;
  let log: CapturingLogger;
  let admin: Admin;

  beforeEach(() => {
    clock = new FakeClock();
    parameters = new MemoryParameters();
    work = new MemoryWorkQueue();
    log = new CapturingLogger();
    admin = createAdmin({ names, allowedRoles: DEFAULT_ALLOWED_ROLES, defaultTenant: "acme" }, { parameters, work, clock, log });
  });

  const failure = (promise: Promise<unknown>) => promise.then(() => undefined, (e: unknown) => e as AdminError);

  it("stores the secret and returns only metadata; tells the broker nothing on create", async () => {
    const created = await admin.create({ client_id: "a", client_secret: "s3cr3t", role: "shipments:read" });
    expect(created).toEqual({ clientId: "a", tenant: "acme", roles: ["shipments:read"], createdAt: "2026-12-04T12:00:00.000Z", updatedAt: "2026-12-04T12:00:00.000Z" });
    expect(JSON.parse(parameters.values.get(credentialsParameterName(names, "a"))!.value).clientSecret).toBe("s3cr3t");
    expect(work.items).toHaveLength(0);
    expect(JSON.stringify(log.lines)).not.toContain("s3cr3t");
  });

  it("takes the allowed roles from configuration", async () => {
    admin = createAdmin({ names, allowedRoles: ["custom:role"], defaultTenant: "acme" }, { parameters, work, clock, log });
    expect((await admin.create({ client_id: "a", client_secret: "s", role: "custom:role" })).roles).toEqual(["custom:role"]);
    const error = await failure(admin.create({ client_id: "b", client_secret: "s", role: "shipments:read" }));
    expect(error).toMatchObject({ status: 400, fields: { role: "not an allowed role; allowed: custom:role" } });
  });

  it("PUT keeps what it does not name, moves updatedAt forward even within one millisecond, and tells the broker", async () => {
    await admin.create({ client_id: "a", client_secret: "old", role: "shipments:read" });
    const first = await admin.replace("a", { client_secret: "new" });
    const second = await admin.replace("a", { tenant: "acme-staging" });
    expect(Date.parse(first.updatedAt)).toBeGreaterThan(Date.parse(first.createdAt));
    expect(Date.parse(second.updatedAt)).toBeGreaterThan(Date.parse(first.updatedAt));
    const stored = JSON.parse(parameters.values.get(credentialsParameterName(names, "a"))!.value);
    expect(stored).toMatchObject({ clientSecret: "new", tenant: "acme-staging", roles: ["shipments:read"] });
    expect(work.items.map((i) => (i as { "detail-type": string; detail: unknown })["detail-type"])).toEqual([
      InternalDetailType.credentialsChanged,
      InternalDetailType.credentialsChanged,
    ]);
    expect((work.items[0] as { detail: unknown }).detail).toEqual({ clientId: "a" });
  });

  it("says so when the broker could not be told, so the operator repeats the request", async () => {
    await admin.create({ client_id: "a", client_secret: "old", role: "shipments:read" });
    work.failNext = true;
    const error = await failure(admin.replace("a", { client_secret: "new" }));
    expect(error).toMatchObject({ status: 500, code: "INTERNAL", message: "the credentials were replaced, but the broker could not be told; repeat the request" });
    await admin.replace("a", { client_secret: "new" });
    expect(work.items).toHaveLength(1);
  });

  it("DELETE repeated after a failed hand-off still reaches the broker while a token is left", async () => {
    await admin.create({ client_id: "a", client_secret: "s", role: "shipments:read" });
    await parameters.put(tokenParameterName(names, "a"), "{}");
    work.failNext = true;
    expect(await failure(admin.remove("a"))).toMatchObject({ status: 500 });
    await admin.remove("a"); // credentials already gone, token still there
    expect(work.items).toHaveLength(1);
    await parameters.delete(tokenParameterName(names, "a"));
    expect(await failure(admin.remove("a"))).toMatchObject({ status: 404 });
  });

  it("reports token status without the token", async () => {
    await admin.create({ client_id: "a", client_secret: "s", role: "shipments:read" });
    const token = { clientId: "a", accessToken: "tok-value", tokenType: "Bearer", scope: "", issuedAt: new Date(clock.now()).toISOString(), expiresAt: new Date(clock.now() + 600_000).toISOString() };
    await parameters.put(tokenParameterName(names, "a"), JSON.stringify(token));
    expect((await admin.show("a")).token).toEqual({ state: "valid", expiresAt: token.expiresAt, lastRefreshAt: token.issuedAt, version: 1 });
    clock.advance(301);
    expect((await admin.show("a")).token.state).toBe("expiring");
    clock.advance(300);
    expect((await admin.show("a")).token.state).toBe("expired");
    expect(JSON.stringify(await admin.list())).not.toContain("tok-value");
  });

  it("pages through credentials and skips an unreadable one with a log line", async () => {
    for (const id of ["a", "b", "c"]) await admin.create({ client_id: id, client_secret: "s", role: "shipments:read" });
    await parameters.put(credentialsParameterName(names, "broken"), "not json");
    const first = await admin.list({ limit: 3 });
    const second = await admin.list({ limit: 3, nextToken: first.nextToken });
    expect([...first.items, ...second.items].map((i) => i.clientId)).toEqual(["a", "b", "c"]);
    expect(log.lines.some((l) => l.message === "stored credentials are unreadable")).toBe(true);
    expect(await failure(admin.list({ limit: 101 }))).toMatchObject({ status: 400, fields: { limit: expect.any(String) } });
  });
});
