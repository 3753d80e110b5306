// `npm start` as a user runs it: a child process on free ports, driven through its admin API,
// the CLI and the SDK, then stopped with SIGINT as a terminal's Ctrl-C would.
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { SQSClient } from "@aws-sdk/client-sqs";
import { SSMClient } from "@aws-sdk/client-ssm";
import { createTokenClient } from "@newstore-auth/client";
import { localDefaults, namesFor } from "@newstore-auth/core";
import { freePort, startMoto } from "@newstore-auth/local/moto";
import { isAlive as alive } from "@newstore-auth/local/processes";
import { provisionReplyQueue } from "@newstore-auth/local/provision";
import { startSandbox } from "@newstore-auth/local/sandbox";

const root = join(import.meta.dirname, "../..");
const KEY = "e2e-admin-key";
const demo = localDefaults.demoClient;

interface Started {
  stage: string;
  child: ChildProcess;
  output: () => string;
  port: number;
  health: { motoPid: number | null; pid: number; awsEndpoint: string; created: string[] };
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.pid) process.kill(-c.pid, "SIGKILL");
});

async function npmStart(stage: string, env: Record<string, string> = {}): Promise<Started> {
  const port = await freePort();
  // A process group of its own, so that SIGINT reaches npm, node and moto as Ctrl-C does.
  const child = spawn("npm", ["start"], {
    cwd: root,
    detached: true,
    env: { ...cleanEnv(), NEWSTORE_AUTH_STAGE: stage, NEWSTORE_AUTH_ADMIN_PORT: String(port), NEWSTORE_AUTH_API_KEY: KEY, ...env },
  });
  children.push(child);
  let text = "";
  child.stdout!.on("data", (d: Buffer) => (text += d));
  child.stderr!.on("data", (d: Buffer) => (text += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`npm start exited ${child.exitCode}: ${text}`);
    const response = await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined);
    if (response?.status === 200) return { stage, child, output: () => text, port, health: (await response.json()) as Started["health"], exited };
    if (Date.now() > deadline) throw new Error(`no /health 200 within 60 s: ${text}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The test's own AWS settings must not leak into the child: it chooses its endpoint itself. */
function cleanEnv(): Record<string, string> {
  const env = { ...process.env } as Record<string, string>;
  for (const key of ["AWS_ENDPOINT_URL", "NEWSTORE_TOKEN_URL", "VITEST", "VITEST_WORKER_ID", "NODE_ENV"]) delete env[key];
  return env;
}

function cli(args: string[], started: Started, input?: string, bare = false): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // bare: only the stage, as a person typing the banner's commands in another terminal has.
  const settings = bare
    ? { NEWSTORE_AUTH_STAGE: started.stage }
    : {
        NEWSTORE_AUTH_STAGE: started.stage,
        NEWSTORE_AUTH_API_URL: `http://127.0.0.1:${started.port}`,
        NEWSTORE_AUTH_API_KEY: KEY,
        AWS_ENDPOINT_URL: started.health.awsEndpoint,
        AWS_REGION: "us-east-1",
        AWS_ACCESS_KEY_ID: "local",
        AWS_SECRET_ACCESS_KEY: "local",
      };
  return new Promise((resolve) => {
    const env = cleanEnv();
    for (const key of Object.keys(env)) if (/^(AWS_|NEWSTORE_)/.test(key)) delete env[key];
    const child = spawn("node", [join(root, "packages/local/bin/newstore-auth.mjs"), ...args], { cwd: root, env: { ...env, ...settings } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? "");
  });
}

async function stop(started: Started) {
  process.kill(-started.child.pid!, "SIGINT");
  return started.exited;
}


describe("npm start", () => {
  it("runs the broker: /health, CLI add and token get, SDK getToken, a live event, SIGINT -> exit 0 with nothing left", async () => {
    const started = await npmStart("e2e");
    expect(started.health.motoPid).toEqual(expect.any(Number));
    expect(started.output()).toContain("newstore-auth is running (stage e2e)");

    const add = await cli(["credentials", "add", demo.clientId, "--role", demo.roles[0]], started, demo.clientSecret);
    expect(add.stderr).toBe("");
    expect(add.code).toBe(0);
    const got = await cli(["token", "get", demo.clientId, "--json"], started);
    expect(got.code).toBe(0);
    const viaCli = JSON.parse(got.stdout) as { parameterVersion?: number; version?: number; expiresAt: string };
    expect(Date.parse(viaCli.expiresAt)).toBeGreaterThan(Date.now() + 3000_000);

    // The SDK, as an integration would use it, against the same runtime.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
    const config = { endpoint: started.health.awsEndpoint, region: "us-east-1", credentials: { accessKeyId: "l", secretAccessKey: "l" } };
    const clients = { ssm: new SSMClient(config), sqs: new SQSClient(config), events: new EventBridgeClient(config) };
    const names = namesFor("e2e");
    const replies = await provisionReplyQueue({ sqs: clients.sqs, events: clients.events }, names, "e2e-sdk");
    const tokens = createTokenClient({ requester: "e2e-sdk", busName: names.busName, replyQueueUrl: replies.url, parameterPrefix: names.parameterPrefix, clients });
    const token = await tokens.getToken(demo.clientId);
    expect(token.expiresAt).toBe(viaCli.expiresAt);
    const forced = await tokens.getToken(demo.clientId, { minValiditySeconds: 3599 }); // asks the broker
    expect(forced.clientId).toBe(demo.clientId);
    Object.values(clients).forEach((c) => c.destroy());

    // One event, read by the CLI's tail while a credentials update makes the broker rotate.
    const tail = cli(["events", "tail", "--json", "--max", "1", "--duration", "30"], started);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await cli(["credentials", "update", demo.clientId, "--role", demo.roles[0]], started)).code).toBe(0);
    const tailed = await tail;
    expect(tailed.code).toBe(0);
    const [event] = tailed.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(JSON.stringify(event)).toContain(demo.clientId);
    // and the runtime's own live lines
    await new Promise((r) => setTimeout(r, 1500));
    expect(started.output()).toMatch(/ready\s+demo-client/);

    const { code, signal } = await stop(started);
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(alive(started.health.pid)).toBe(false);
    expect(alive(started.health.motoPid!)).toBe(false);
    expect(started.output()).not.toContain(token.accessToken);
  });

  it("the banner's commands work as printed, with a generated key and nothing else set", async () => {
    const started = await npmStart("banner", { NEWSTORE_AUTH_API_KEY: "" });
    const banner = started.output();
    const [add, get, tail] = ["credentials add", "token get", "events tail"].map((c) => banner.split("\n").find((l) => l.includes(`newstore-auth ${c}`))!.trim());
    expect(add).toBe(`printf ${demo.clientSecret} | npx newstore-auth credentials add ${demo.clientId} --role ${demo.roles[0]}`);
    expect(get).toBe(`npx newstore-auth token get ${demo.clientId}`);
    expect(tail).toBe("npx newstore-auth events tail");
    const added = await cli(["credentials", "add", demo.clientId, "--role", demo.roles[0]], started, demo.clientSecret, true);
    expect(added.stderr).toBe("");
    expect(added.code).toBe(0);
    const got = await cli(["token", "get", demo.clientId], started, undefined, true);
    expect(got.stderr).toBe("");
    expect(got.code).toBe(0);
    expect(got.stdout).toContain(demo.clientId);
    expect((await stop(started)).code).toBe(0);
  });

  it("must show: npm run demo against a running npm start prints its table with exactly 1 NewStore call for 500 requests", async () => {
    const started = await npmStart("demo");
    const demoRun = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const env = cleanEnv();
      for (const key of Object.keys(env)) if (/^(AWS_|NEWSTORE_)/.test(key)) delete env[key];
      const child = spawn("npm", ["run", "demo"], { cwd: root, env: { ...env, NEWSTORE_AUTH_STAGE: "demo" } });
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d));
      child.stderr.on("data", (d: Buffer) => (out += d));
      child.on("close", (code) => resolve({ code, out }));
    });
    console.log(demoRun.out.slice(demoRun.out.indexOf("| measure")));
    expect(demoRun.code).toBe(0);
    expect(demoRun.out).toContain(`Using the running broker (pid ${started.health.pid}`);
    const row = (name: string) => new RegExp(`^\\| ${name}\\s*\\| (.*)$`, "m").exec(demoRun.out)?.[1]?.trim();
    expect(row("requests \\(token.requested\\)")).toBe("500");
    expect(row("answered token.ready")).toBe("500");
    expect(row("NewStore token calls")).toBe("1");
    expect(row("SSM writes \\(token versions\\)")).toBe("1");
    expect(row("latency p50 / p95 / p99")).toMatch(/^\d+ \/ \d+ \/ \d+ ms$/);
    expect((await stop(started)).code).toBe(0);
  }, 300_000);

  it("a second start against an already running moto provisions nothing new, and works", async () => {
    const moto = await startMoto();
    try {
      const env = { AWS_ENDPOINT_URL: moto.endpoint, AWS_ACCESS_KEY_ID: "local", AWS_SECRET_ACCESS_KEY: "local" };
      const first = await npmStart("twice", env);
      expect(first.health.motoPid).toBeNull();
      expect(first.health.created.length).toBeGreaterThanOrEqual(5);
      expect((await stop(first)).code).toBe(0);
      expect(alive(moto.pid)).toBe(true); // not ours to stop

      const second = await npmStart("twice", env);
      expect(second.health.created).toEqual([]);
      expect(second.output()).toContain("all existed already; reused");
      expect((await cli(["credentials", "add", demo.clientId, "--role", demo.roles[0]], second, demo.clientSecret)).code).toBe(0);
      expect((await cli(["token", "get", demo.clientId], second)).code).toBe(0);
      expect((await stop(second)).code).toBe(0);
    } finally {
      await moto.stop();
    }
  });

  it("uses NEWSTORE_TOKEN_URL instead of the built-in sandbox", async () => {
    const sandbox = await startSandbox();
    try {
      sandbox.register({ ...demo, roles: [...demo.roles] });
      const started = await npmStart("ext", { NEWSTORE_TOKEN_URL: sandbox.tokenUrlTemplate, NEWSTORE_AUTH_DEFAULT_TENANT: demo.tenant });
      expect(started.output()).toContain(sandbox.tokenUrlTemplate);
      await cli(["credentials", "add", demo.clientId, "--role", demo.roles[0]], started, demo.clientSecret);
      expect((await cli(["token", "get", demo.clientId], started)).code).toBe(0);
      expect(sandbox.calls(demo.clientId)).toBe(1);
      expect((await stop(started)).code).toBe(0);
    } finally {
      await sandbox.close();
    }
  });

  it("fails to start with one clear line: port taken, endpoint unreachable, moto missing", async () => {
    const run = (env: Record<string, string>) =>
      new Promise<{ code: number | null; text: string }>((resolve) => {
        const child = spawn("node", [join(root, "packages/local/bin/start.mjs")], { cwd: root, env: { ...cleanEnv(), NEWSTORE_AUTH_STAGE: "broken", ...env } });
        let text = "";
        child.stdout.on("data", (d: Buffer) => (text += d));
        child.stderr.on("data", (d: Buffer) => (text += d));
        child.on("close", (code) => resolve({ code, text }));
      });
    const holder = await startSandbox(); // anything listening
    const taken = await run({ NEWSTORE_AUTH_ADMIN_PORT: new URL(holder.url).port });
    await holder.close();
    expect(taken.code).toBe(1);
    expect(taken.text).toMatch(/^newstore-auth: port \d+ on 127.0.0.1 is taken: .*NEWSTORE_AUTH_ADMIN_PORT/m);

    const away = await run({ NEWSTORE_AUTH_ADMIN_PORT: String(await freePort()), AWS_ENDPOINT_URL: `http://127.0.0.1:${await freePort()}` });
    expect(away.code).toBe(1);
    expect(away.text).toMatch(/^newstore-auth: the AWS endpoint http:\/\/127.0.0.1:\d+ does not answer .*unset AWS_ENDPOINT_URL/m);

    const bin = mkdtempSync(join(tmpdir(), "fake-python-"));
    writeFileSync(join(bin, "python3"), "#!/bin/sh\necho \"ModuleNotFoundError: No module named 'moto'\" >&2\nexit 1\n");
    chmodSync(join(bin, "python3"), 0o755);
    const noMoto = await run({ NEWSTORE_AUTH_ADMIN_PORT: String(await freePort()), PATH: `${bin}:${process.env.PATH}` });
    expect(noMoto.code).toBe(1);
    expect(noMoto.text).toMatch(/^newstore-auth: .*pip install 'moto\[server\]'/m);
  });
});
