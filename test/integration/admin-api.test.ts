// The admin API over real HTTP (the handler behind the local API Gateway adapter), on moto, with
// the broker running: credentials in, tokens out, rotations and revocations through the broker.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { GetParameterCommand } from "@aws-sdk/client-ssm";
import { credentialsParameterName, DEFAULT_ALLOWED_ROLES, DetailType, TokenReady, tokenParameterName } from "@newstore-auth/core";
import type { HttpApi } from "@newstore-auth/local/http-api";
import {
  ADMIN_KEY,
  captureOutput,
  collect,
  type Harness,
  type Provisioned,
  publishRequests,
  request,
  startAdmin,
  startHarness,
} from "../support/harness.js";

describe("admin API on moto", () => {
  let h: Harness;
  let output: ReturnType<typeof captureOutput>;
  let api: HttpApi;
  let env: Provisioned;
  const responses: string[] = []; // every body the API sent, searched for secrets at the end
  const secrets: string[] = [];

  beforeAll(async () => {
    output = captureOutput();
    h = await startHarness("admin");
  });
  afterAll(async () => {
    output?.restore();
    await h?.close();
  });
  afterEach(() => api?.close());

  async function fresh(adminEnv: Record<string, string> = {}) {
    env = await h.reset();
    api = await startAdmin(h, env.resources, adminEnv);
  }

  async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = { "x-api-key": ADMIN_KEY }) {
    const response = await fetch(`${api.url}${path}`, {
      method,
      headers: { ...(body !== undefined && typeof body !== "string" ? { "content-type": "application/json" } : {}), ...headers },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await response.text();
    responses.push(text);
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  }

  const secret = (label: string) => {
    const value = `${label}-${crypto.randomUUID()}`;
    secrets.push(value);
    return value;
  };

  async function tokenFor(clientId: string) {
    const asked = request(clientId);
    await publishRequests(h, [asked]);
    const [reply] = await collect(h.sqs, env.replies, 1);
    return reply!;
  }

  it("must show: POST with the existing users' body -> 201, then token.requested gets token.ready", async () => {
    await fresh({ NEWSTORE_AUTH_DEFAULT_TENANT: "acme-sandbox" });
    const clientSecret = secret("s");
    h.sandbox.register({ clientId: "orders-sync", clientSecret, tenant: "acme-sandbox", roles: ["iam:providers:read"] });

    const created = await call("POST", "/credentials", { client_id: "orders-sync", client_secret: clientSecret, role: "iam:providers:read" });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      clientId: "orders-sync",
      tenant: "acme-sandbox",
      roles: ["iam:providers:read"],
      createdAt: expect.any(String),
      updatedAt: created.body.createdAt,
    });

    const reply = await tokenFor("orders-sync");
    expect(reply["detail-type"]).toBe(DetailType.ready);
    const ready = TokenReady.parse(reply.detail);
    const stored = await h.ssm.send(new GetParameterCommand({ Name: `${ready.parameterName}:${ready.parameterVersion}`, WithDecryption: true }));
    expect(JSON.parse(stored.Parameter!.Value!).accessToken).toBe(h.sandbox.issuedTokens()[0]);
    expect(h.sandbox.log()).toEqual([{ clientId: "orders-sync", tenant: "acme-sandbox", scope: "iam:providers:read", status: 200 }]);
  });

  it("must show: an unknown role -> 400 naming the allowed roles; no key or a wrong key -> 403", async () => {
    await fresh({ NEWSTORE_AUTH_DEFAULT_TENANT: "acme-sandbox" });
    const bad = await call("POST", "/credentials", { client_id: "orders-sync", client_secret: secret("s"), role: "not:a:scope" });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("INVALID_REQUEST");
    for (const role of DEFAULT_ALLOWED_ROLES) expect(bad.body.error.fields.role).toContain(role);

    const body = { client_id: "orders-sync", client_secret: secret("s"), role: "iam:providers:read" };
    const none = await call("POST", "/credentials", body, {});
    const wrong = await call("POST", "/credentials", body, { "x-api-key": `${ADMIN_KEY}x` });
    for (const r of [none, wrong]) expect(r).toEqual({ status: 403, body: { error: { code: "FORBIDDEN", message: "a valid x-api-key header is required" } } });
    expect((await call("GET", "/credentials/orders-sync")).status).toBe(404); // nothing was written
    expect((await call("GET", "/health", undefined, {})).status).toBe(200); // health needs no key
  });

  it("validates bodies field by field, never echoing a secret", async () => {
    await fresh(); // no default tenant
    const s = secret("s");
    const cases: Array<[unknown, Record<string, unknown>]> = [
      [{ client_id: "a/b", client_secret: s, role: "iam:providers:read", tenant: "acme" }, { client_id: expect.any(String) }],
      [{ client_id: "ok", client_secret: "", role: "iam:providers:read", tenant: "acme" }, { client_secret: expect.any(String) }],
      [{ client_id: "ok", client_secret: s, tenant: "acme" }, { role: "role or roles is required" }],
      [{ client_id: "ok", client_secret: s, role: "iam:providers:read" }, { tenant: "required: no default tenant is configured" }],
      [{ client_id: "ok", client_secret: s, role: "iam:providers:read", tenant: "Acme!" }, { tenant: expect.any(String) }],
      [{ client_id: "ok", client_secret: s, roles: ["iam:providers:read", "nope"], tenant: "acme" }, { roles: expect.stringContaining("allowed") }],
      [{ client_id: "ok", client_secret: s, role: "iam:providers:read", tenant: "acme", rolse: ["x"] }, { rolse: "unknown field" }],
      [{ client_id: "ok", client_secret: "x".repeat(1025), role: "iam:providers:read", tenant: "acme" }, { client_secret: expect.any(String) }],
      [JSON.parse('{"client_id":"ok","client_secret":"s","role":"iam:providers:read","tenant":"acme","__proto__":{"admin":true}}'), JSON.parse('{"__proto__":"unknown field"}')],
      [[1, 2], { body: expect.any(String) }],
    ];
    for (const [body, fields] of cases) {
      const r = await call("POST", "/credentials", body);
      expect(r.status, JSON.stringify(fields)).toBe(400);
      expect(r.body.error.fields).toEqual(fields);
    }
    const roles = await call("POST", "/credentials", { client_id: "multi", client_secret: s, roles: ["shipments:read", "iam:users:read"], role: "shipments:read", tenant: "acme-staging" });
    expect(roles.status).toBe(201);
    expect(roles.body.roles).toEqual(["shipments:read", "iam:users:read"]);
  });

  it("answers 409, 404, 405, 413 and 415 as documented", async () => {
    await fresh({ NEWSTORE_AUTH_DEFAULT_TENANT: "acme" });
    const body = { client_id: "dup", client_secret: secret("s"), role: "shipments:read" };
    expect((await call("POST", "/credentials", body)).status).toBe(201);
    const again = await call("POST", "/credentials", body);
    expect(again).toMatchObject({ status: 409, body: { error: { code: "CONFLICT" } } });
    expect(await call("GET", "/credentials/nobody")).toMatchObject({ status: 404, body: { error: { code: "NOT_FOUND" } } });
    expect(await call("PUT", "/credentials/nobody", { client_secret: secret("s") })).toMatchObject({ status: 404 });
    expect(await call("DELETE", "/credentials/nobody")).toMatchObject({ status: 404 });
    expect(await call("GET", "/nowhere")).toMatchObject({ status: 404 });
    expect(await call("PATCH", "/credentials")).toMatchObject({ status: 405, body: { error: { code: "METHOD_NOT_ALLOWED" } } });
    const big = await call("POST", "/credentials", { ...body, client_id: "big", client_secret: "x".repeat(17 * 1024) });
    expect(big).toMatchObject({ status: 413, body: { error: { code: "PAYLOAD_TOO_LARGE" } } });
    const notJson = await call("POST", "/credentials", "client_id=x", { "x-api-key": ADMIN_KEY, "content-type": "application/json" });
    expect(notJson).toMatchObject({ status: 415, body: { error: { code: "UNSUPPORTED_MEDIA_TYPE" } } });
    const form = await call("POST", "/credentials", "client_id=x", { "x-api-key": ADMIN_KEY, "content-type": "application/x-www-form-urlencoded" });
    expect(form.status).toBe(415);
    expect(await call("GET", "/credentials/a%ZZ")).toMatchObject({ status: 400 });
  });

  it("lists credentials in pages with token status, never a secret or a token", async () => {
    await fresh({ NEWSTORE_AUTH_DEFAULT_TENANT: "acme-sandbox" });
    for (const id of ["c-1", "c-2", "c-3"]) {
      const clientSecret = secret("s");
      h.sandbox.register({ clientId: id, clientSecret, tenant: "acme-sandbox", roles: ["shipments:read"], ttlSeconds: 1200 });
      expect((await call("POST", "/credentials", { client_id: id, client_secret: clientSecret, role: "shipments:read" })).status).toBe(201);
    }
    expect((await tokenFor("c-2"))["detail-type"]).toBe(DetailType.ready);

    const first = await call("GET", "/credentials?limit=2");
    expect(first.status).toBe(200);
    expect(first.body.items).toHaveLength(2);
    expect(first.body.nextToken).toEqual(expect.any(String));
    const second = await call("GET", `/credentials?limit=2&nextToken=${encodeURIComponent(first.body.nextToken)}`);
    const items = [...first.body.items, ...second.body.items];
    expect(items.map((i: { clientId: string }) => i.clientId).sort()).toEqual(["c-1", "c-2", "c-3"]);
    expect(second.body.nextToken).toBeUndefined();
    const c2 = items.find((i: { clientId: string }) => i.clientId === "c-2");
    expect(c2.token).toEqual({ state: "valid", expiresAt: expect.any(String), lastRefreshAt: expect.any(String), version: 1 });
    expect(Date.parse(c2.token.expiresAt) - Date.parse(c2.token.lastRefreshAt)).toBe(1200_000);
    expect(items.find((i: { clientId: string }) => i.clientId === "c-1").token).toEqual({ state: "none" });
    expect((await call("GET", "/credentials/c-2")).body.token.version).toBe(1);
    expect((await call("GET", "/credentials?limit=0")).body.error.fields).toEqual({ limit: expect.any(String) });
    for (const item of items) expect(Object.keys(item).sort()).toEqual(["clientId", "createdAt", "roles", "tenant", "token", "updatedAt"]);
  });

  it("must show: a secret rotation via PUT makes the next token come from the new secret, with exactly one NewStore call", async () => {
    await fresh({ NEWSTORE_AUTH_DEFAULT_TENANT: "acme-sandbox" });
    const oldSecret = secret("old");
    h.sandbox.register({ clientId: "rotating", clientSecret: oldSecret, tenant: "acme-sandbox", roles: ["shipments:read"] });
    await call("POST", "/credentials", { client_id: "rotating", client_secret: oldSecret, role: "shipments:read" });
    const before = TokenReady.parse((await tokenFor("rotating")).detail);
    expect(h.sandbox.calls()).toBe(1);

    // NewStore now knows only the new secret: a call with the old one would be rejected.
    const newSecret = secret("new");
    h.sandbox.register({ clientId: "rotating", clientSecret: newSecret, tenant: "acme-sandbox", roles: ["shipments:read"] });
    const put = await call("PUT", "/credentials/rotating", { client_secret: newSecret });
    expect(put.status).toBe(200);
    expect(Date.parse(put.body.updatedAt)).toBeGreaterThan(Date.parse(put.body.createdAt));

    const rotated = (await collect(h.sqs, env.tail, 3)).filter((e) => e["detail-type"] === DetailType.rotated);
    expect(rotated.map((e) => (e.detail as { reason: string }).reason)).toEqual(["requested", "credentials-changed"]);
    const after = TokenReady.parse((await tokenFor("rotating")).detail);
    expect(after.parameterVersion).toBe(before.parameterVersion + 1);
    const stored = await h.ssm.send(new GetParameterCommand({ Name: `${after.parameterName}:${after.parameterVersion}`, WithDecryption: true }));
    expect(JSON.parse(stored.Parameter!.Value!).accessToken).toBe(h.sandbox.issuedTokens()[1]);
    expect(h.sandbox.calls()).toBe(2); // the first token, then exactly one call with the new secret
    expect(h.sandbox.log()[1]).toMatchObject({ clientId: "rotating", status: 200 });
  });

  it("PUT replaces roles and tenant; DELETE removes credentials, the broker removes the token and publishes token.revoked", async () => {
    await fresh({ NEWSTORE_AUTH_DEFAULT_TENANT: "acme-sandbox" });
    const s = secret("s");
    h.sandbox.register({ clientId: "leaving", clientSecret: s, tenant: "acme-sandbox", roles: ["shipments:read", "iam:users:read"] });
    await call("POST", "/credentials", { client_id: "leaving", client_secret: s, role: "shipments:read" });
    const roles = await call("PUT", "/credentials/leaving", { roles: ["shipments:read", "iam:users:read"] });
    expect(roles.body.roles).toEqual(["shipments:read", "iam:users:read"]);
    expect(await call("PUT", "/credentials/leaving", { client_id: "other" })).toMatchObject({ status: 400, body: { error: { fields: { client_id: expect.any(String) } } } });
    expect(await call("PUT", "/credentials/leaving", {})).toMatchObject({ status: 400 });
    await tokenFor("leaving");
    expect(h.sandbox.log().at(-1)!.scope).toBe("shipments:read iam:users:read");

    expect((await call("DELETE", "/credentials/leaving")).status).toBe(204);
    const events = await collect(h.sqs, env.tail, 3);
    const revoked = events.find((e) => e["detail-type"] === DetailType.revoked);
    expect(revoked?.detail).toEqual({ clientId: "leaving", reason: "credentials-deleted" });
    expect(await h.ssm.send(new GetParameterCommand({ Name: tokenParameterName(h.names, "leaving") })).catch((e: Error) => e.name)).toBe("ParameterNotFound");
    expect(await h.ssm.send(new GetParameterCommand({ Name: credentialsParameterName(h.names, "leaving") })).catch((e: Error) => e.name)).toBe("ParameterNotFound");
    expect((await call("GET", "/credentials/leaving")).status).toBe(404);
    expect(TokenReady.safeParse((await tokenFor("leaving")).detail).success).toBe(false); // UNKNOWN_CLIENT now
  });

  it("never puts a client secret in a response or a log line", async () => {
    await h.stopBroker();
    const everything = responses.join("\n") + output.text();
    expect(secrets.length).toBeGreaterThan(10);
    expect(output.text()).toContain("credentials created");
    expect(secrets.filter((s) => everything.includes(s))).toEqual([]);
  });
});
