// A local NewStore identity server: the Keycloak client-credentials token protocol on node:http,
// with a call counter per client and faults on demand. Tests, `npm start` and benchmarks use it
// in place of id.p.newstore.net.
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface SandboxClient {
  clientId: string;
  clientSecret: string;
  tenant: string;
  /** Scopes the client may ask for; a request for any other gets invalid_scope. */
  roles: string[];
  /** expires_in of the tokens it issues (NewStore sets it per API client). */
  ttlSeconds?: number;
}

/** What the next matching calls answer instead of a token. */
export interface Fault {
  status?: number;
  /** OAuth error code of the body, for 4xx statuses. */
  error?: string;
  retryAfter?: string;
  /** Delay before answering (longer than the client's timeout: a hang). */
  delayMs?: number;
  /** Answer 200 with a body that is not JSON. */
  malformed?: boolean;
}

export interface FaultRule {
  fault: Fault;
  /** How many calls it applies to (default 1; Infinity until cleared). */
  times?: number;
  /** Only calls of this client. */
  clientId?: string;
  /** Applies to this share of matching calls (0..1), drawn from a seeded sequence. */
  rate?: number;
}

export interface SandboxCall {
  clientId: string;
  tenant: string;
  scope: string;
  status: number;
}

export interface Sandbox {
  /** Base URL, e.g. http://127.0.0.1:PORT */
  url: string;
  /** Token endpoint with `{tenant}`, the form NEWSTORE_TOKEN_URL takes. */
  tokenUrlTemplate: string;
  register(client: SandboxClient): void;
  fault(rule: FaultRule): void;
  clearFaults(): void;
  /** Token calls received, for one client or in all. */
  calls(clientId?: string): number;
  log(): readonly SandboxCall[];
  /** Every access token it has issued (tests search output for them). */
  issuedTokens(): readonly string[];
  reset(): void;
  close(): Promise<void>;
}

const MAX_BODY = 64 * 1024;

export async function startSandbox({ port = 0, host = "127.0.0.1" }: { port?: number; host?: string } = {}): Promise<Sandbox> {
  const clients = new Map<string, SandboxClient>();
  let faults: Array<Required<Pick<FaultRule, "times">> & FaultRule> = [];
  let calls: SandboxCall[] = [];
  let issued: string[] = [];

  let seed = 0x2545f491;
  const draw = () => ((seed = (seed * 1103515245 + 12345) >>> 0) % 10_000) / 10_000; // repeatable runs

  function takeFault(clientId: string): Fault | undefined {
    const rule = faults.find((f) => f.times > 0 && (!f.clientId || f.clientId === clientId));
    if (!rule) return undefined;
    if (rule.rate !== undefined && draw() >= rule.rate) return undefined;
    rule.times -= 1;
    faults = faults.filter((f) => f.times > 0);
    return rule.fault;
  }

  const api: Omit<Sandbox, "url" | "tokenUrlTemplate" | "close"> = {
    register: (client) => void clients.set(client.clientId, { ...client, roles: [...client.roles] }),
    fault: (rule) => void faults.push({ ...rule, times: rule.times ?? 1 }),
    clearFaults: () => void (faults = []),
    calls: (clientId) => (clientId === undefined ? calls.length : calls.filter((c) => c.clientId === clientId).length),
    log: () => calls,
    issuedTokens: () => issued,
    reset: () => {
      clients.clear();
      faults = [];
      calls = [];
      issued = [];
    },
  };

  async function token(realm: string, req: IncomingMessage, res: ServerResponse) {
    if (req.method !== "POST") return send(res, 405, { error: "invalid_request", error_description: "HTTP method not allowed" });
    if (!String(req.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded")) {
      return send(res, 400, { error: "invalid_request", error_description: "Content-Type must be application/x-www-form-urlencoded" });
    }
    const form = new URLSearchParams(await readBody(req));
    const clientId = form.get("client_id") ?? "";
    const scope = form.get("scope") ?? "";
    const call: SandboxCall = { clientId, tenant: realm, scope, status: 0 };
    calls.push(call);
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      call.status = status;
      send(res, status, body, headers);
    };

    const fault = takeFault(clientId);
    if (fault?.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));
    if (res.destroyed) return;
    if (fault?.malformed) {
      call.status = 200;
      res.writeHead(200, { "content-type": "application/json" }).end("{ this is not json");
      return;
    }
    if (fault?.status) {
      const headers = fault.retryAfter ? { "retry-after": fault.retryAfter } : undefined;
      const error = fault.error ?? (fault.status === 429 ? "too_many_requests" : fault.status >= 500 ? "server_error" : "invalid_client");
      return answer(fault.status, { error, error_description: `sandbox fault ${fault.status}` }, headers);
    }

    if (form.get("grant_type") !== "client_credentials") {
      return answer(400, { error: "unsupported_grant_type", error_description: "Unsupported grant_type" });
    }
    const client = clients.get(clientId);
    if (!client || client.tenant !== realm || client.clientSecret !== (form.get("client_secret") ?? "")) {
      return answer(401, { error: "invalid_client", error_description: "Invalid client or Invalid client credentials" });
    }
    const asked = scope.split(" ").filter(Boolean);
    const unknown = asked.filter((s) => !client.roles.includes(s));
    if (unknown.length > 0) return answer(400, { error: "invalid_scope", error_description: "Invalid scopes: " + unknown.join(" ") });

    const accessToken = `nsat_${randomBytes(24).toString("base64url")}`;
    issued.push(accessToken);
    answer(200, {
      access_token: accessToken,
      expires_in: client.ttlSeconds ?? 3600,
      refresh_expires_in: 0,
      token_type: "Bearer",
      "not-before-policy": 0,
      scope: asked.join(" "),
    });
  }

  // A small control API so that another process (npm start, other languages' tests) can drive it.
  async function control(path: string, req: IncomingMessage, res: ServerResponse) {
    if (req.method === "GET" && path === "calls") {
      const byClient: Record<string, number> = {};
      for (const c of calls) byClient[c.clientId] = (byClient[c.clientId] ?? 0) + 1;
      return send(res, 200, { total: calls.length, byClient });
    }
    if (req.method === "POST") {
      const body = JSON.parse((await readBody(req)) || "{}");
      if (path === "clients") return (api.register(body as SandboxClient), send(res, 204));
      if (path === "faults") return (api.fault(body as FaultRule), send(res, 204));
      if (path === "reset") return (api.reset(), send(res, 204));
    }
    send(res, 404, { error: "not_found" });
  }

  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://sandbox").pathname;
    const realm = /^\/auth\/realms\/([^/]+)\/protocol\/openid-connect\/token$/.exec(path);
    const handled = realm
      ? token(decodeURIComponent(realm[1]!), req, res)
      : path.startsWith("/__sandbox/")
        ? control(path.slice("/__sandbox/".length), req, res)
        : Promise.resolve(send(res, 404, { error: "Realm does not exist" }));
    handled.catch((error: Error) => send(res, 400, { error: "invalid_request", error_description: error.message }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const url = `http://${host}:${(server.address() as AddressInfo).port}`;
  return {
    ...api,
    url,
    tokenUrlTemplate: `${url}/auth/realms/{tenant}/protocol/openid-connect/token`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function send(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}) {
  if (res.headersSent || res.destroyed) return;
  if (body === undefined) return void res.writeHead(status, headers).end();
  res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new Error("request body too large"));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}
