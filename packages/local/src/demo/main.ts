// `npm run demo`: a herd of 500 token.requested from 10 consumers for one cold client, against a
// running `npm start` (or one it starts itself), and a table of what it cost.
import { randomBytes } from "node:crypto";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { BROKER_SOURCE, DetailType, EventEnvelope, LocalEnv, localDefaults, namesFor } from "@newstore-auth/core";
import { safeJson } from "@newstore-auth/core/messages";
import { provisionEventsTail, provisionReplyQueue } from "../provision.js";
import { consoleLogger } from "../start/console-log.js";
import { runtimeConfig } from "../start/config.js";
import { type Runtime, startRuntime } from "../start/runtime.js";
import { readSession, type Session } from "../start/session.js";
import { percentile, runHerd } from "./herd.js";

const CONSUMERS = 10;
const PER_CONSUMER = 50;
const REQUESTER = "newstore-auth-demo";
const out = (line = "") => process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  const stage = process.env[LocalEnv.stage] || localDefaults.stage;
  let session: Session | undefined = readSession(stage);
  let own: Runtime | undefined;
  if (session) {
    out(`Using the running broker (pid ${session.pid}, ${session.apiUrl}).`);
    Object.assign(process.env, { AWS_ENDPOINT_URL: session.awsEndpoint, AWS_REGION: session.region });
    process.env.AWS_ACCESS_KEY_ID ??= "local";
    process.env.AWS_SECRET_ACCESS_KEY ??= "local";
  } else {
    out("No running broker found (npm start); starting one for the demo…");
    const config = runtimeConfig({ ...process.env, [LocalEnv.adminPort]: "0" });
    own = await startRuntime(config, { write: () => {}, log: consoleLogger("error", (l) => process.stderr.write(`${l}\n`)), env: process.env });
    session = own.session;
  }
  const s = session;
  try {
    if (!s.sandboxUrl) throw new Error("the demo counts NewStore calls on the built-in sandbox: run npm start without NEWSTORE_TOKEN_URL");
    const admin = async (method: string, path: string, body?: object) => {
      const response = await fetch(`${s.apiUrl}${path}`, {
        method,
        headers: { "x-api-key": s.apiKey, "content-type": "application/json" },
        body: body && JSON.stringify(body),
      });
      if (!response.ok && response.status !== 409) throw new Error(`admin API ${method} ${path}: ${response.status} ${await response.text()}`);
    };
    const sandbox = async (path: string, body?: object) => {
      const response = await fetch(`${s.sandboxUrl}/__sandbox/${path}`, { method: body ? "POST" : "GET", body: body && JSON.stringify(body) });
      return response.status === 204 ? undefined : ((await response.json()) as { byClient: Record<string, number> });
    };

    const demo = localDefaults.demoClient;
    await admin("POST", "/credentials", { client_id: demo.clientId, client_secret: demo.clientSecret, roles: demo.roles, tenant: demo.tenant });
    // A client of its own, so that every run starts cold.
    const clientId = `demo-herd-${randomBytes(3).toString("hex")}`;
    const clientSecret = randomBytes(16).toString("base64url");
    await sandbox("clients", { clientId, clientSecret, tenant: demo.tenant, roles: demo.roles });
    await admin("POST", "/credentials", { client_id: clientId, client_secret: clientSecret, roles: demo.roles, tenant: demo.tenant });

    const names = namesFor(s.stage);
    const aws = { sqs: new SQSClient({}), events: new EventBridgeClient({}) };
    const replies = await provisionReplyQueue(aws, names, REQUESTER);
    const events = await provisionEventsTail(aws, names, "demo-events", { source: [BROKER_SOURCE], detail: { clientId: [clientId] } });

    out(`Firing ${CONSUMERS * PER_CONSUMER} token.requested from ${CONSUMERS} consumers for the cold client ${clientId}…`);
    const herd = await runHerd({ names, clientId, requester: REQUESTER, replyQueueUrl: replies.url, consumers: CONSUMERS, perConsumer: PER_CONSUMER });
    const published = await countEvents(aws.sqs, events.url, clientId, herd.ready + herd.failed + 1);
    const calls = (await sandbox("calls"))!.byClient[clientId] ?? 0;
    await admin("DELETE", `/credentials/${clientId}`); // revoke the demo's client again

    const sorted = [...herd.latenciesMs].sort((a, b) => a - b);
    const rows: Array<[string, string]> = [
      ["requests (token.requested)", String(herd.published)],
      ["answered token.ready", String(herd.ready)],
      ["answered token.failed", String(herd.failed)],
      ["NewStore token calls", String(calls)],
      ["SSM reads (consumers)", String(herd.ssmReads)],
      ["SSM writes (token versions)", String(herd.version)],
      ["broker events", `${published.total} (${Object.entries(published.byType).map(([t, n]) => `${n} ${t.replace("token.", "")}`).join(", ")})`],
      ["latency p50 / p95 / p99", `${percentile(sorted, 50)} / ${percentile(sorted, 95)} / ${percentile(sorted, 99)} ms`],
      ["wall time", `${(herd.wallMs / 1000).toFixed(1)} s`],
    ];
    const width = Math.max(...rows.map(([k]) => k.length));
    out();
    out(`| ${"measure".padEnd(width)} | value`);
    out(`|${"-".repeat(width + 2)}|${"-".repeat(24)}`);
    for (const [k, v] of rows) out(`| ${k.padEnd(width)} | ${v}`);
    out();
    out("Latency is request to answer through the local emulator (moto), which dominates it.");
    aws.sqs.destroy();
    aws.events.destroy();
    return herd.ready === herd.published ? 0 : 1;
  } finally {
    await own?.stop();
  }
}

/** Drains the demo's event queue until the expected count arrived or it stays quiet. */
async function countEvents(sqs: SQSClient, url: string, clientId: string, expected: number) {
  const byType: Record<string, number> = {};
  let total = 0;
  let quiet = 0;
  while (total < expected && quiet < 3) {
    const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
    const messages = got.Messages ?? [];
    quiet = messages.length ? 0 : quiet + 1;
    for (const m of messages) {
      const e = EventEnvelope.safeParse(safeJson(m.Body ?? ""));
      if (!e.success || (e.data.detail as { clientId?: string }).clientId !== clientId) continue;
      if (!Object.values(DetailType).includes(e.data["detail-type"] as never)) continue;
      byType[e.data["detail-type"]] = (byType[e.data["detail-type"]] ?? 0) + 1;
      total += 1;
    }
    if (messages.length) {
      await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
    }
  }
  return { total, byType };
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`newstore-auth demo: ${error.message}\n`);
    process.exit(1);
  },
);
