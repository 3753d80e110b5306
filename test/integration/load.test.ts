// Load under faults on the real path: 5,000 requests over 20 clients while NewStore answers 20%
// of its calls with 500. Its own file, so it runs beside the other suites rather than after them.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import { brokerQueue, DetailType, Env, type EventEnvelope, TokenReady } from "@newstore-auth/core";
import { captureOutput, collect, type Harness, readTokenAt, registerClient, request, startHarness } from "../support/harness.js";

const FAST = { [Env.newstoreAttemptTimeoutMs]: "400", [Env.newstoreBudgetMs]: "2500" };

describe("load with NewStore failing 20% of its calls", () => {
  let h: Harness;
  let output: ReturnType<typeof captureOutput>;
  beforeAll(async () => {
    output = captureOutput();
    h = await startHarness("load");
  });
  afterAll(async () => {
    output?.restore();
    await h?.close();
  });

  it("must show: 5,000 requests over 20 clients with 20% NewStore 500s: all answered, none lost, no expired token", async () => {
    const env = await h.reset({ brokerEnv: FAST });
    const clients = Array.from({ length: 20 }, (_, i) => `load-${String(i).padStart(2, "0")}`);
    // A short TTL makes tokens rotate during the run, so NewStore is asked again and again.
    for (const c of clients) await registerClient(h, c, { ttlSeconds: 330 });
    h.sandbox.fault({ fault: { status: 500 }, times: Number.POSITIVE_INFINITY, rate: 0.2 });
    const total = 5000;
    const asked = Array.from({ length: total }, (_, i) => request(clients[i % clients.length]!));
    const pendingIds = new Set(asked.map((a) => a.requestId));
    const answers: EventEnvelope[] = [];
    const started = Date.now();
    // As EventBridge delivers them, straight onto the FIFO queue (the bus path is proven above),
    // in waves that keep moto's FIFO scan short.
    for (let i = 0; i < total; i += 250) {
      const wave = asked.slice(i, i + 250);
      for (let j = 0; j < wave.length; j += 10) {
        await h.sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: env.resources.requestQueue.url,
            Entries: wave.slice(j, j + 10).map((detail, k) => ({
              Id: String(k),
              MessageGroupId: brokerQueue.messageGroupId,
              MessageBody: JSON.stringify({ version: "0", id: randomUUID(), "detail-type": DetailType.requested, source: "load", time: new Date().toISOString(), detail }),
            })),
          }),
        );
      }
      answers.push(...(await collect(h.sqs, env.replies, wave.length, 120_000)));
      if (process.env.SHOW_PROGRESS) process.stderr.write(`wave ${i / 250 + 1}: ${answers.length} answered at ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
    }
    answers.push(...(await collect(h.sqs, env.replies, 1, 1500)));
    const received = Date.now();
    let ready = 0;
    let expired = 0;
    const versions = new Map<string, string>();
    for (const a of answers) {
      const id = (a.detail as { requestId: string }).requestId;
      expect(pendingIds.delete(id)).toBe(true); // one answer each, no stranger
      const parsed = TokenReady.safeParse(a.detail);
      if (!parsed.success) continue;
      ready += 1;
      if (Date.parse(parsed.data.expiresAt) <= Date.parse(a.time ?? "")) expired += 1;
      versions.set(`${parsed.data.parameterName}:${parsed.data.parameterVersion}`, parsed.data.expiresAt);
    }
    // the expiry each answer named is the stored one
    for (const [name, expiresAt] of [...versions].slice(0, 40)) {
      const [parameterName, version] = name.split(/:(?=\d+$)/);
      expect((await readTokenAt(h, parameterName!, Number(version))).expiresAt).toBe(expiresAt);
    }
    const failed = h.sandbox.log().filter((c) => c.status === 500).length;
    console.log(
      `load: ${total} requests over ${clients.length} clients in ${((received - started) / 1000).toFixed(0)} s; answered ${answers.length} ` +
        `(${ready} ready, ${answers.length - ready} failed), lost ${pendingIds.size}, expired tokens served ${expired}; ` +
        `NewStore calls ${h.sandbox.calls()} (${failed} answered 500), token versions ${versions.size}`,
    );
    expect(pendingIds.size).toBe(0);
    expect(answers).toHaveLength(total);
    expect(expired).toBe(0);
    expect(ready).toBe(total); // 20% 500s are absorbed by the retries inside the budget
    expect(failed).toBeGreaterThan(0);
  }, 900_000);
});
