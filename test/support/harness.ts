// The real path on one machine for integration tests: moto (SSM, SQS, EventBridge over HTTP),
// the NewStore sandbox, the provisioned broker resources, and the real handler driven by the
// queue poller. Nothing here mocks the AWS SDK.
import { randomUUID } from "node:crypto";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { GetParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import {
  AdminEnv,
  brokerQueue,
  type Clock,
  credentialsParameterName,
  Env,
  type EventEnvelope,
  namesFor,
  type Names,
  refreshDueMessage,
} from "@newstore-auth/core";
import { createAdminHandler } from "@newstore-auth/functions/admin";
import { type BrokerHandler, createBrokerHandler } from "@newstore-auth/functions/broker";
import { type HttpApi, startHttpApi } from "@newstore-auth/local/http-api";
import { startMoto, type MotoServer } from "@newstore-auth/local/moto";
import { type Poller, startPoller } from "@newstore-auth/local/poller";
import { type BrokerResources, provisionBroker, provisionEventsTail, provisionReplyQueue, type QueueRef } from "@newstore-auth/local/provision";
import { chunksOf, putTokenRequests } from "@newstore-auth/local/requests";
import { type Sandbox, startSandbox } from "@newstore-auth/local/sandbox";

export const REGION = "us-east-1";
export const REQUESTER = "it-consumer";

export interface Harness {
  moto: MotoServer;
  sandbox: Sandbox;
  sqs: SQSClient;
  events: EventBridgeClient;
  ssm: SSMClient;
  names: Names;
  /** Every client secret registered so far: output is searched for them. */
  secrets: string[];
  /** Every access token the sandbox issued, across resets. */
  issuedTokens(): string[];
  /** Wipes moto and the sandbox, provisions afresh, starts a cold broker. */
  reset(options?: ResetOptions): Promise<Provisioned>;
  stopBroker(): Promise<void>;
  close(): Promise<void>;
}

export interface ResetOptions {
  brokerEnv?: Record<string, string>;
  clock?: Clock;
  /** Replaces the broker the poller drives; `container()` makes a real one (a cold container). */
  handler?: (container: () => BrokerHandler) => BrokerHandler;
}

export interface Provisioned {
  resources: BrokerResources;
  replies: QueueRef;
  tail: QueueRef;
  poller: Poller;
}

/** The admin API, the real handler over HTTP, wired to this harness's broker queue. */
export async function startAdmin(h: Harness, resources: BrokerResources, env: Record<string, string> = {}): Promise<HttpApi> {
  const handler = createAdminHandler({
    env: { [Env.stage]: h.names.stage, [AdminEnv.brokerQueueUrl]: resources.requestQueue.url, [AdminEnv.apiKey]: ADMIN_KEY, ...env },
    aws: { maxAttempts: 1 },
  });
  return startHttpApi(handler);
}

export const ADMIN_KEY = "local-test-admin-key";

export async function startHarness(stage = "it"): Promise<Harness> {
  const moto = await startMoto();
  const sandbox = await startSandbox();
  // The SDK reads these; the broker handler, like a Lambda, gets no other endpoint setting.
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_REGION: REGION,
    AWS_DEFAULT_REGION: REGION,
    AWS_ACCESS_KEY_ID: "testing",
    AWS_SECRET_ACCESS_KEY: "testing",
  });
  // maxAttempts 1: moto answers 500 now and then, and a retried PutEvents duplicates events.
  const sqs = new SQSClient({ maxAttempts: 1 });
  const events = new EventBridgeClient({ maxAttempts: 1 });
  const ssm = new SSMClient({ maxAttempts: 1 });
  const names = namesFor(stage);
  let poller: Poller | undefined;
  const earlierTokens: string[] = [];

  const harness: Harness = {
    moto,
    sandbox,
    sqs,
    events,
    ssm,
    names,
    secrets: [],
    issuedTokens: () => [...earlierTokens, ...sandbox.issuedTokens()],
    async reset({ brokerEnv = {}, clock, handler: wrap }: ResetOptions = {}) {
      await harness.stopBroker();
      await moto.reset();
      earlierTokens.push(...sandbox.issuedTokens());
      sandbox.reset();
      const resources = await provisionBroker({ sqs, events }, names, { visibilityTimeoutSeconds: 5 });
      const replies = await provisionReplyQueue({ sqs, events }, names, REQUESTER);
      const tail = await provisionEventsTail({ sqs, events }, names);
      // A new handler is a new container: cold memory, SSM its only source.
      const container = () =>
        createBrokerHandler({
          env: {
            [Env.stage]: names.stage,
            [Env.tokenUrl]: sandbox.tokenUrlTemplate,
            ...brokerEnv,
          },
          aws: { maxAttempts: 1 },
          clock,
        });
      const handler = wrap ? wrap(container) : container();
      poller = startPoller({
        sqs,
        queueUrl: resources.requestQueue.url,
        queueArn: resources.requestQueue.arn,
        region: REGION,
        handler,
      });
      return { resources, replies, tail, poller };
    },
    async stopBroker() {
      await poller?.stop();
      poller = undefined;
    },
    async close() {
      await harness.stopBroker();
      sqs.destroy();
      events.destroy();
      ssm.destroy();
      await sandbox.close();
      await moto.stop();
    },
  };
  return harness;
}

/** Registers a client as the admin API will: credentials in SSM, and the same in the sandbox. */
export async function registerClient(
  h: Harness,
  clientId: string,
  { roles = ["iam:providers:read"], ttlSeconds, tenant = "acme-sandbox" }: { roles?: string[]; ttlSeconds?: number; tenant?: string } = {},
) {
  const clientSecret = `secret-${clientId}-${randomUUID()}`;
  h.secrets.push(clientSecret);
  const now = new Date().toISOString();
  await h.ssm.send(
    new PutParameterCommand({
      Name: credentialsParameterName(h.names, clientId),
      Type: "SecureString",
      Overwrite: true,
      Value: JSON.stringify({ clientId, clientSecret, tenant, roles, createdAt: now, updatedAt: now }),
    }),
  );
  h.sandbox.register({ clientId, clientSecret, tenant, roles, ttlSeconds });
  return clientSecret;
}

export interface Request {
  requestId: string;
  clientId: string;
  requester: string;
  minValiditySeconds?: number;
  forceRefresh?: boolean;
}

export const request = (clientId: string, extra: Partial<Request> = {}): Request => ({
  requestId: randomUUID(),
  clientId,
  requester: REQUESTER,
  ...extra,
});

/** Publishes token.requested events as a consumer does, 10 per PutEvents, all at once. */
export async function publishRequests(h: Harness, details: object[], source = "it.consumer"): Promise<void> {
  await Promise.all(chunksOf(details).map((chunk) => putTokenRequests(h.events, h.names.busName, source, chunk)));
}

/** Receives (and deletes) envelopes from a queue until `count` arrived or the time is up. */
export async function collect(sqs: SQSClient, queue: QueueRef, count: number, timeoutMs = 60_000): Promise<EventEnvelope[]> {
  const received: EventEnvelope[] = [];
  const deadline = Date.now() + timeoutMs;
  while (received.length < count && Date.now() < deadline) {
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
    const messages = out.Messages ?? [];
    if (messages.length === 0) continue;
    received.push(...messages.map((m) => JSON.parse(m.Body!) as EventEnvelope));
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queue.url,
        Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
  }
  return received;
}

/** What the refresh schedule sends: a token.refresh-due work item on the broker's queue. */
export async function sendRefreshDue(h: Harness, queue: QueueRef, at: number): Promise<void> {
  await h.sqs.send(
    new SendMessageCommand({
      QueueUrl: queue.url,
      MessageGroupId: brokerQueue.messageGroupId,
      MessageBody: JSON.stringify(refreshDueMessage(randomUUID(), new Date(at).toISOString())),
    }),
  );
}

/** Reads a token parameter at the version a token.ready names. */
export async function readTokenAt(h: Harness, parameterName: string, version: number) {
  const out = await h.ssm.send(new GetParameterCommand({ Name: `${parameterName}:${version}`, WithDecryption: true }));
  return JSON.parse(out.Parameter!.Value!) as { clientId: string; accessToken: string; expiresAt: string; issuedAt: string };
}

/**
 * Captures everything written to stdout and stderr (the Powertools logger writes there). The
 * text is kept for the tests to search; it reaches the terminal only with SHOW_LOGS=1.
 */
export function captureOutput() {
  const chunks: string[] = [];
  const show = process.env.SHOW_LOGS === "1";
  const streams = [process.stdout, process.stderr] as const;
  const originals = streams.map((stream) => stream.write);
  streams.forEach((stream, i) => {
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      chunks.push(typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString("utf8"));
      if (show) return (originals[i] as (...args: unknown[]) => boolean).call(stream, chunk, ...rest);
      const callback = rest.find((r) => typeof r === "function") as (() => void) | undefined;
      callback?.();
      return true;
    }) as typeof stream.write;
  });
  return {
    text: () => chunks.join(""),
    restore() {
      streams.forEach((stream, i) => {
        stream.write = originals[i]!;
      });
    },
  };
}
