// The operator CLI as operators run it: a child process of the real bin, talking HTTP to the
// admin API and AWS (moto) to the broker running in this process. Children are spawned
// asynchronously: a blocking spawn would stall the broker they wait on.
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ListRulesCommand } from "@aws-sdk/client-eventbridge";
import { ListQueuesCommand } from "@aws-sdk/client-sqs";
import { GetParameterCommand } from "@aws-sdk/client-ssm";
import { CLI_REQUESTER, credentialsParameterName, DEFAULT_ALLOWED_ROLES } from "@newstore-auth/core";
import type { HttpApi } from "@newstore-auth/local/http-api";
import { provisionCliReplyQueue } from "@newstore-auth/local/provision";
import { ExitCode } from "@newstore-auth/local/cli/errors";
import { ADMIN_KEY, captureOutput, type Harness, startAdmin, startHarness } from "../support/harness.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = "packages/local/bin/newstore-auth.mjs";

interface Run {
  args: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface Running {
  child: ChildProcess;
  /** Output so far. */
  stdout(): string;
  stderr(): string;
  done: Promise<Run>;
}

describe("newstore-auth CLI", () => {
  let h: Harness;
  let output: ReturnType<typeof captureOutput>;
  let api: HttpApi;
  const runs: Run[] = []; // every output of every child, searched for secrets and tokens at the end
  const secrets: string[] = [];

  beforeAll(async () => {
    output = captureOutput();
    h = await startHarness("cli");
    const env = await h.reset();
    api = await startAdmin(h, env.resources, { NEWSTORE_AUTH_DEFAULT_TENANT: "acme-sandbox" });
    await provisionCliReplyQueue({ sqs: h.sqs, events: h.events }, h.names);
  });
  afterAll(async () => {
    await api?.close();
    output?.restore();
    await h?.close();
  });

  function start(args: string[], { stdin = "", env = {} }: { stdin?: string; env?: Record<string, string | undefined> } = {}): Running {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      // process.env carries the AWS endpoint, region and credentials the harness set.
      env: {
        ...process.env,
        NEWSTORE_AUTH_STAGE: "cli",
        NEWSTORE_AUTH_API_URL: api.url,
        NEWSTORE_AUTH_API_KEY: ADMIN_KEY,
        NEWSTORE_AUTH_PARAMETER_PREFIX: undefined,
        NEWSTORE_AUTH_BUS_NAME: undefined,
        ...env,
      },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.stdin!.end(stdin);
    const done = new Promise<Run>((resolve, reject) => {
      child.on("error", reject);
      child.on("close", (code, signal) => {
        const run = { args, code, signal, stdout, stderr };
        runs.push(run);
        resolve(run);
      });
    });
    return { child, stdout: () => stdout, stderr: () => stderr, done };
  }

  const run = (args: string[], options?: { stdin?: string; env?: Record<string, string | undefined> }) => start(args, options).done;

  async function until(what: string, check: () => boolean, timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  const secret = (label: string) => {
    const value = `${label}-${randomUUID()}`;
    secrets.push(value);
    return value;
  };

  async function storedSecret(clientId: string): Promise<string> {
    const out = await h.ssm.send(new GetParameterCommand({ Name: credentialsParameterName(h.names, clientId), WithDecryption: true }));
    return JSON.parse(out.Parameter!.Value!).clientSecret;
  }

  async function tailResources() {
    const prefix = `${h.names.busName}-tail-`;
    const queues = await h.sqs.send(new ListQueuesCommand({ QueueNamePrefix: prefix }));
    const rules = await h.events.send(new ListRulesCommand({ EventBusName: h.names.busName, NamePrefix: prefix }));
    return { queues: queues.QueueUrls ?? [], rules: (rules.Rules ?? []).map((r) => r.Name) };
  }

  it("prints help for the root and for a subcommand, with the exit codes", async () => {
    const root = await run(["--help"]);
    expect(root.code).toBe(0);
    expect(root.stdout).toContain("Usage: newstore-auth");
    for (const command of ["credentials", "token", "events"]) expect(root.stdout).toContain(command);
    expect(root.stdout).toContain("Exit codes:");
    expect(root.stdout).toMatch(/7\s+timed out/);
    expect(root.stdout).toContain("NEWSTORE_AUTH_API_KEY");

    const add = await run(["credentials", "add", "--help"]);
    expect(add.code).toBe(0);
    expect(add.stdout).toContain("Usage: newstore-auth credentials add");
    expect(add.stdout).toContain("stdin");
    expect(add.stdout).toContain("Examples:");
    for (const args of [["token", "get", "--help"], ["events", "tail", "--help"], ["credentials", "list", "--help"]]) {
      const help = await run(args);
      expect(help.code, args.join(" ")).toBe(0);
      expect(help.stdout).toContain("Example");
    }
    expect(ExitCode).toEqual({ ok: 0, unexpected: 1, usage: 2, rejected: 3, notFound: 4, forbidden: 5, tokenFailed: 6, unreachable: 7 });
  });

  it("credentials add reads the secret from stdin; list shows the client, never the secret", async () => {
    const clientSecret = secret("orders");
    h.sandbox.register({ clientId: "orders-sync", clientSecret, tenant: "acme-sandbox", roles: ["iam:providers:read"] });
    const added = await run(["credentials", "add", "orders-sync", "--role", "iam:providers:read"], { stdin: `${clientSecret}\n` });
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toContain("created orders-sync");
    expect(added.stdout).toMatch(/tenant:\s+acme-sandbox/);
    expect(await storedSecret("orders-sync")).toBe(clientSecret); // one trailing newline stripped, nothing else

    const tailSecret = secret("tail");
    h.sandbox.register({ clientId: "tail-client", clientSecret: tailSecret, tenant: "acme-sandbox", roles: ["shipments:read", "iam:users:read"] });
    const json = await run(["credentials", "add", "tail-client", "--role", "shipments:read,iam:users:read", "--json"], { stdin: tailSecret });
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ clientId: "tail-client", tenant: "acme-sandbox", roles: ["shipments:read", "iam:users:read"] });
    expect(await storedSecret("tail-client")).toBe(tailSecret);

    const list = await run(["credentials", "list", "--json"]);
    expect(list.code, list.stderr).toBe(0);
    const { items } = JSON.parse(list.stdout);
    expect(items.map((i: { clientId: string }) => i.clientId).sort()).toEqual(["orders-sync", "tail-client"]);
    expect(items.find((i: { clientId: string }) => i.clientId === "orders-sync")).toMatchObject({
      tenant: "acme-sandbox",
      roles: ["iam:providers:read"],
      token: { state: "none" },
    });

    const table = await run(["credentials", "list", "--all"]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^CLIENT ID\s+TENANT\s+ROLES\s+TOKEN\s+EXPIRES AT$/);
    expect(lines.find((l) => l.startsWith("orders-sync"))).toMatch(/^orders-sync\s+acme-sandbox\s+iam:providers:read\s+none\s+-$/);
    // Columns line up: every row's tenant starts where the header's does.
    const column = lines[0]!.indexOf("TENANT");
    for (const line of lines.slice(1)) expect(line.slice(column, column + "acme-sandbox".length)).toBe("acme-sandbox");
  });

  it("credentials show prints metadata and token state", async () => {
    const human = await run(["credentials", "show", "orders-sync"]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/clientId:\s+orders-sync/);
    expect(human.stdout).toMatch(/roles:\s+iam:providers:read/);
    expect(human.stdout).toMatch(/token:\s+none/);
    const json = await run(["--json", "credentials", "show", "orders-sync"]);
    expect(JSON.parse(json.stdout)).toMatchObject({ clientId: "orders-sync", tenant: "acme-sandbox", token: { state: "none" } });
  });

  it("token get prints the token's metadata, and the token itself only with --show-token", async () => {
    const human = await run(["token", "get", "orders-sync"]);
    expect(human.code, human.stderr).toBe(0);
    const [issued] = h.sandbox.issuedTokens();
    expect(issued).toEqual(expect.any(String));
    expect(human.stdout).toMatch(/clientId:\s+orders-sync/);
    expect(human.stdout).toMatch(/parameterName:\s+\/newstore-auth\/cli\/tokens\/orders-sync/);
    expect(human.stdout).toMatch(/version:\s+1/);
    expect(human.stdout).toMatch(/s left\)/);
    expect(human.stdout).toContain("(hidden; --show-token prints it)");
    expect(human.stdout + human.stderr).not.toContain(issued);

    const json = await run(["token", "get", "orders-sync", "--json"]);
    expect(json.code, json.stderr).toBe(0);
    const metadata = JSON.parse(json.stdout);
    expect(metadata).toMatchObject({ clientId: "orders-sync", parameterName: "/newstore-auth/cli/tokens/orders-sync", parameterVersion: 1, scope: "iam:providers:read" });
    expect(metadata.secondsLeft).toBeGreaterThan(300);
    expect(metadata).not.toHaveProperty("accessToken");
    expect(json.stdout).not.toContain(issued);

    const shown = await run(["token", "get", "orders-sync", "--json", "--show-token"]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout).accessToken).toBe(issued);
    const shownHuman = await run(["token", "get", "orders-sync", "--show-token"]);
    expect(shownHuman.stdout).toMatch(new RegExp(`accessToken:\\s+${issued}`));
    expect(h.sandbox.issuedTokens()).toHaveLength(1); // the later calls read the stored token
  });

  it("events tail --json --max 2 prints the events of a token get, then removes its queue and rule", async () => {
    const tail = start(["events", "tail", "--json", "--max", "2", "--client", "tail-client"]);
    await until("the tail to listen", () => tail.stderr().includes("listening"));
    expect((await tailResources()).rules).toHaveLength(1);

    const got = await run(["token", "get", "tail-client"]);
    expect(got.code, got.stderr).toBe(0);
    const done = await tail.done;
    expect(done.code, done.stderr).toBe(0);
    const events = done.stdout.trimEnd().split("\n").map((line) => JSON.parse(line));
    expect(events.map((e) => e.detailType).sort()).toEqual(["token.ready", "token.rotated"]);
    for (const event of events) {
      expect(event).toMatchObject({ source: "newstore-auth.broker", time: expect.any(String), id: expect.any(String) });
      expect(event.detail.clientId).toBe("tail-client");
    }
    expect(events.find((e) => e.detailType === "token.ready").detail).toMatchObject({ requester: CLI_REQUESTER, parameterVersion: 1 });
    expect(await tailResources()).toEqual({ queues: [], rules: [] });
  });

  it("events tail shows token.failed of an unknown client (token get exits 6) and cleans up on SIGINT, SIGTERM and --duration", async () => {
    const tail = start(["events", "tail"]);
    await until("the tail to listen", () => tail.stderr().includes("listening"));
    expect((await tailResources()).queues).toHaveLength(1);

    const unknown = await run(["token", "get", "nobody"]);
    expect(unknown.code).toBe(ExitCode.tokenFailed);
    expect(unknown.stderr).toMatch(/^error: the broker answered token\.failed: UNKNOWN_CLIENT \(retryable: false\)/);
    expect(unknown.stdout).toBe("");

    await until("the failure in the tail", () => tail.stdout().includes("token.failed"));
    const line = tail.stdout().split("\n").find((l) => l.includes("token.failed"))!;
    expect(line).toMatch(/^\S+Z\s+token\.failed\s+nobody\s+newstore-auth-cli\/[0-9a-f]{8}\s+UNKNOWN_CLIENT retryable=false /);
    tail.child.kill("SIGINT");
    const done = await tail.done;
    expect(done.code, done.stderr).toBe(0);
    expect(done.stderr).toContain("stopped after 1 event; removed the temporary queue and rule");
    expect(await tailResources()).toEqual({ queues: [], rules: [] });

    const terminated = start(["events", "tail", "--json"]);
    await until("the tail to listen", () => terminated.stderr().includes("listening"));
    terminated.child.kill("SIGTERM");
    expect((await terminated.done).code).toBe(0);
    const timed = await run(["events", "tail", "--duration", "1"]);
    expect(timed.code, timed.stderr).toBe(0);
    expect(timed.stdout).toBe("");
    expect(await tailResources()).toEqual({ queues: [], rules: [] });
  });

  it("credentials update replaces the secret from stdin, or the roles; it needs a change", async () => {
    const none = await run(["credentials", "update", "orders-sync"]);
    expect(none.code).toBe(ExitCode.usage);
    expect(none.stderr).toContain("nothing to change");

    const newSecret = secret("rotated");
    h.sandbox.register({ clientId: "orders-sync", clientSecret: newSecret, tenant: "acme-sandbox", roles: ["iam:providers:read"] });
    const rotated = await run(["credentials", "update", "orders-sync", "--new-secret"], { stdin: `${newSecret}\n` });
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout).toContain("updated orders-sync");
    expect(await storedSecret("orders-sync")).toBe(newSecret);

    const roles = await run(["credentials", "update", "orders-sync", "--role", "iam:providers:read", "--role", "shipments:read", "--json"]);
    expect(roles.code, roles.stderr).toBe(0);
    expect(JSON.parse(roles.stdout).roles).toEqual(["iam:providers:read", "shipments:read"]);
  });

  it("maps failures to the documented exit codes with one error line", async () => {
    const wrongKey = await run(["credentials", "list"], { env: { NEWSTORE_AUTH_API_KEY: "not-the-key" } });
    expect(wrongKey.code).toBe(ExitCode.forbidden);
    expect(wrongKey.stderr).toMatch(/^error: a valid x-api-key header is required \(HTTP 403 FORBIDDEN\)\n$/);
    const noKey = await run(["credentials", "list"], { env: { NEWSTORE_AUTH_API_KEY: undefined } });
    expect(noKey.code).toBe(ExitCode.forbidden);
    expect(noKey.stderr).toContain("NEWSTORE_AUTH_API_KEY");

    const missing = await run(["credentials", "show", "nobody"]);
    expect(missing.code).toBe(ExitCode.notFound);
    expect(missing.stderr).toMatch(/^error: no credentials for client nobody/);

    const badRole = await run(["credentials", "add", "new-client", "--role", "not:a:scope"], { stdin: secret("bad-role") });
    expect(badRole.code).toBe(ExitCode.rejected);
    expect(badRole.stderr).toMatch(/^error: unknown role/);
    for (const role of DEFAULT_ALLOWED_ROLES) expect(badRole.stderr).toContain(role);
    const duplicate = await run(["credentials", "add", "tail-client", "--role", "shipments:read"], { stdin: secret("dup") });
    expect(duplicate.code).toBe(ExitCode.rejected);
    expect(duplicate.stderr).toContain("CONFLICT");

    const noRole = await run(["credentials", "add", "new-client"], { stdin: secret("no-role") });
    expect(noRole.code).toBe(ExitCode.usage);
    expect(noRole.stderr).toContain("--role");
    const noSecret = await run(["credentials", "add", "new-client", "--role", "shipments:read"], { stdin: "" });
    expect(noSecret.code).toBe(ExitCode.usage);
    expect(noSecret.stderr).toMatch(/^error: no client secret of new-client on stdin/);
    const badId = await run(["credentials", "show", "a/b"]);
    expect(badId.code).toBe(ExitCode.usage);

    const closedPort = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, "127.0.0.1", () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const unreachable = await run(["credentials", "list"], { env: { NEWSTORE_AUTH_API_URL: `http://127.0.0.1:${closedPort}` } });
    expect(unreachable.code).toBe(ExitCode.unreachable);
    expect(unreachable.stderr).toMatch(/^error: could not reach the admin API at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);

    const noStack = await run(["--stage", "nowhere", "token", "get", "orders-sync"]);
    expect(noStack.code).toBe(ExitCode.unreachable);
    expect(noStack.stderr).toContain("queue newstore-auth-nowhere-cli-replies does not exist: deploy the broker stack");

    for (const r of [wrongKey, missing, badRole, noRole, unreachable, noStack]) {
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(r.stdout).toBe("");
    }
  });

  it("has no way to pass a secret on the command line", async () => {
    const s = secret("argv");
    for (const args of [
      ["credentials", "add", "argv-client", "--role", "shipments:read", "--secret", s],
      ["credentials", "add", "argv-client", "--role", "shipments:read", `--client-secret=${s}`],
      ["credentials", "add", "argv-client", s, "--role", "shipments:read"],
      ["credentials", "update", "orders-sync", "--new-secret", s],
    ]) {
      const r = await run(args, { stdin: secret("unused") });
      expect(r.code, args.join(" ")).toBe(ExitCode.usage);
      expect(r.stderr).toMatch(/^error: (unknown option|too many arguments)/);
    }
    expect((await run(["credentials", "show", "argv-client"])).code).toBe(ExitCode.notFound);
  });

  it("credentials remove removes the client; the broker revokes its token", async () => {
    const removed = await run(["credentials", "remove", "orders-sync"]);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toBe("removed orders-sync; the broker revokes the token\n");
    expect((await run(["credentials", "show", "orders-sync"])).code).toBe(ExitCode.notFound);
    const again = await run(["credentials", "remove", "orders-sync", "--json"]);
    expect(again.code).toBe(ExitCode.notFound);
  });

  it("never prints a client secret, nor a token without --show-token", async () => {
    await h.stopBroker();
    expect(secrets.length).toBeGreaterThan(5);
    const tokens = h.sandbox.issuedTokens();
    expect(tokens.length).toBeGreaterThan(0);
    for (const r of runs) {
      const text = r.stdout + r.stderr;
      expect(secrets.filter((s) => text.includes(s)), r.args.join(" ")).toEqual([]);
      if (!r.args.includes("--show-token")) expect(tokens.filter((t) => text.includes(t)), r.args.join(" ")).toEqual([]);
    }
    expect(secrets.filter((s) => output.text().includes(s))).toEqual([]);
  });
});
