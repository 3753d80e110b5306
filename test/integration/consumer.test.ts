// Consumers on moto + the sandbox: the SDK across simulated containers, the steady state under
// scheduled refresh, and the README's TypeScript and Python snippets against the local broker.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { SQSClient } from "@aws-sdk/client-sqs";
import { SSMClient } from "@aws-sdk/client-ssm";
import { brokerDefaults, ConsumerEnv, refreshSchedule } from "@newstore-auth/core";
import { createTokenClient, type TokenClient } from "@newstore-auth/client";
import { awsPorts } from "@newstore-auth/client/aws";
import type { QueueRef } from "@newstore-auth/local/provision";
import { provisionReplyQueue } from "@newstore-auth/local/provision";
import { captureOutput, collect, type Harness, registerClient, REQUESTER, sendRefreshDue, startHarness } from "../support/harness.js";

/** A simulated container: its own SDK clients (SSM calls counted on the wire) and token client. */
function container(h: Harness, replies: QueueRef, now?: () => number, rereadAfterMs?: number) {
  const config = { maxAttempts: 1 };
  const ssm = new SSMClient(config);
  let ssmCalls = 0;
  ssm.middlewareStack.add((next) => async (args) => ((ssmCalls += 1), next(args)), { step: "finalizeRequest", name: "countCalls" });
  const clients = { ssm, events: new EventBridgeClient(config), sqs: new SQSClient(config) };
  const settings = { requester: REQUESTER, busName: h.names.busName, replyQueueUrl: replies.url, parameterPrefix: h.names.parameterPrefix };
  const base = awsPorts(clients, { ...settings, source: REQUESTER });
  const tokens: TokenClient = createTokenClient({ ...settings, rereadAfterMs, ports: now ? { ...base, now } : base });
  return {
    tokens,
    ssmCalls: () => ssmCalls,
    destroy: () => Object.values(clients).forEach((c) => c.destroy()),
  };
}

const sha = (text: string) => createHash("sha256").update(text).digest("hex");

describe("consumers on moto", () => {
  let h: Harness;
  let output: ReturnType<typeof captureOutput>;
  beforeAll(async () => {
    output = captureOutput(); // the broker's JSON logs; searched in broker-flow, kept quiet here
    h = await startHarness("consumers");
  });
  afterAll(async () => {
    output?.restore();
    await h?.close();
  });

  it("10 containers x 50 concurrent getToken for a cold client: one token, 1 NewStore call, <= 20 SSM calls", async () => {
    const { replies } = await h.reset();
    await registerClient(h, "cold-client");
    // Re-reads wait 5 s here: on a loaded CI machine moto can take longer than the default 1.5 s,
    // and the count of SSM calls is what this test is about.
    const containers = Array.from({ length: 10 }, () => container(h, replies, undefined, 5_000));
    const results = await Promise.all(containers.flatMap((c) => Array.from({ length: 50 }, () => c.tokens.getToken("cold-client"))));

    const ssmCalls = containers.reduce((sum, c) => sum + c.ssmCalls(), 0);
    const published = containers.reduce((sum, c) => sum + c.tokens.stats.requests, 0);
    console.log(`herd: ${results.length} getToken, ${h.sandbox.calls()} NewStore call(s), ${ssmCalls} SSM GetParameter calls, ${published} token.requested`);
    expect(results).toHaveLength(500);
    expect(new Set(results.map((t) => t.accessToken)).size).toBe(1);
    expect(results[0]!.accessToken).toBe(h.sandbox.issuedTokens()[0]);
    expect(h.sandbox.calls()).toBe(1);
    expect(ssmCalls).toBeLessThanOrEqual(20);
    expect(published).toBe(10); // one per container, not one per caller
    containers.forEach((c) => c.destroy());
  });

  it("steady state over 3 simulated hours at TTL 3600: no wait on the broker after the first token", async () => {
    let now = Date.now();
    const clock = { now: () => now };
    const { replies, resources, poller, tail } = await h.reset({ clock });
    await registerClient(h, "steady-client", { ttlSeconds: 3600 });
    const containers = Array.from({ length: 10 }, () => container(h, replies, clock.now));

    await containers[0]!.tokens.getToken("steady-client");
    let getTokens = 1;
    const horizon = 3 * 3600;
    const tickEvery = refreshSchedule.everyMinutes * 60;
    for (let t = 60; t <= horizon; t += 60) {
      now += 60_000;
      if (t % tickEvery === 0) {
        const handled = poller.stats.messages;
        await sendRefreshDue(h, resources.requestQueue, now);
        while (poller.stats.messages === handled) await new Promise((r) => setTimeout(r, 10));
      }
      for (const c of containers) {
        for (let i = 0; i < 3; i += 1) {
          const token = await c.tokens.getToken("steady-client");
          getTokens += 1;
          expect(Date.parse(token.expiresAt) - now).toBeGreaterThanOrEqual(300_000);
        }
      }
    }

    // What the schedule must do, worked out from its settings: refresh when <= 600 s are left.
    let expiresAt = 3600;
    let scheduled = 0;
    for (let t = tickEvery; t <= horizon; t += tickEvery) {
      if (expiresAt - t <= brokerDefaults.refreshAheadSeconds) {
        expiresAt = t + 3600;
        scheduled += 1;
      }
    }
    console.log(JSON.stringify(containers.map((c) => c.tokens.stats)));
    const waited = containers.reduce((sum, c) => sum + c.tokens.stats.requests, 0) - 1;
    const reads = containers.map((c) => c.ssmCalls());
    console.log(
      `steady: ${getTokens} getToken over 3 h, NewStore calls ${h.sandbox.calls()} (1 + ${scheduled} scheduled), ` +
        `waits on the broker after the first token ${waited}, SSM reads per container [${reads.join(", ")}]`,
    );
    expect(waited).toBe(0);
    expect(h.sandbox.calls()).toBe(1 + scheduled);
    const rotations = (await collect(h.sqs, tail, 2 + scheduled, 5_000)).filter((e) => e["detail-type"] === "token.rotated");
    expect(rotations.map((e) => (e.detail as { reason: string }).reason).sort()).toEqual(["requested", ...Array(scheduled).fill("scheduled")]);
    const tokensIssued = h.sandbox.calls();
    // the first read of each container, then at most one per rotation (+1: container 0's miss)
    reads.forEach((r, i) => expect(r).toBeLessThanOrEqual(tokensIssued + (i === 0 ? 1 : 0)));
    containers.forEach((c) => c.destroy());
  });

  function snippet(language: "typescript" | "python"): string {
    const readme = readFileSync(join(import.meta.dirname, "../../README.md"), "utf8");
    const fence = language === "typescript" ? "ts" : "python";
    const match = new RegExp(`<!-- snippet:${language} -->\\n\`\`\`${fence}\\n([\\s\\S]*?)\\n\`\`\``).exec(readme);
    if (!match) throw new Error(`README has no ${language} snippet`);
    return match[1]!;
  }

  async function consumerEnv(requester: string) {
    const replies = await provisionReplyQueue({ sqs: h.sqs, events: h.events }, h.names, requester);
    return {
      [ConsumerEnv.requester]: requester,
      [ConsumerEnv.busName]: h.names.busName,
      [ConsumerEnv.replyQueueUrl]: replies.url,
      [ConsumerEnv.parameterPrefix]: h.names.parameterPrefix,
    };
  }

  it("the README's TypeScript snippet gets a token through the local broker", async () => {
    await h.reset();
    await registerClient(h, "ts-client");
    Object.assign(process.env, await consumerEnv("readme-ts"));
    const dir = join(import.meta.dirname, "../.snippets");
    mkdirSync(dir, { recursive: true });
    const file = join(dir, "readme-snippet.ts");
    writeFileSync(file, snippet("typescript"));
    const module = (await import(/* @vite-ignore */ file)) as { handler(e: { clientId: string }): Promise<{ clientId: string; expiresAt: string }> };
    const result = await module.handler({ clientId: "ts-client" });
    expect(result.clientId).toBe("ts-client");
    expect(Date.parse(result.expiresAt) - Date.now()).toBeGreaterThan(3000_000);
    expect(h.sandbox.calls("ts-client")).toBe(1);
  });

  it("the README's Python snippet gets a token through the local broker", async () => {
    await h.reset();
    await registerClient(h, "py-client");
    const env = await consumerEnv("readme-python");
    const program = `${snippet("python")}\n\nimport hashlib, sys\nfirst = get_token(sys.argv[1])\nsecond = get_token(sys.argv[1])\nprint(hashlib.sha256(first.encode()).hexdigest(), first == second)\n`;
    // The broker runs in this process, so the child must not block the event loop: run it async.
    const result = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn("python3", ["-c", program, "py-client"], { env: { ...process.env, ...env } });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d));
      child.stderr.on("data", (d: Buffer) => (stderr += d));
      child.on("close", (status) => resolve({ status, stdout, stderr }));
    });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(result.stdout.trim()).toBe(`${sha(h.sandbox.issuedTokens()[0]!)} True`);
    expect(h.sandbox.calls("py-client")).toBe(1);
  });
});
