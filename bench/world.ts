// What every scenario runs on: moto (SSM, SQS, EventBridge), the NewStore sandbox, the broker's
// resources provisioned as `npm start` does, and the real broker handler behind the queue poller.
// Every AWS call is counted (see meter.ts); NewStore calls are counted by the sandbox.
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { SQSClient } from "@aws-sdk/client-sqs";
import { SSMClient } from "@aws-sdk/client-ssm";
import { type Clock, type Credentials, credentialsParameterName, Env, localDefaults, type Names, namesFor, refreshDueMessage, silentLogger, systemClock, tokenParameterName } from "@newstore-auth/core";
import { sqsWorkQueue } from "@newstore-auth/core/aws/sqs";
import { ssmParameterStore } from "@newstore-auth/core/aws/ssm";
import { createBrokerHandler } from "@newstore-auth/functions/broker";
import { startMoto, type MotoServer } from "@newstore-auth/local/moto";
import { type Poller, type SqsHandler, startPoller } from "@newstore-auth/local/poller";
import { type BrokerResources, provisionBroker, provisionReplyQueue, type QueueRef } from "@newstore-auth/local/provision";
import { type Sandbox, startSandbox } from "@newstore-auth/local/sandbox";
import { Meter, type Party } from "./meter.js";

export const REGION = "us-east-1";
/** The consumer's name: all its containers share one reply queue, as the TokenConsumer construct makes. */
export const REQUESTER = "bench-consumer";

export interface Provisioned {
  resources: BrokerResources;
  replies: QueueRef;
}

export interface BrokerDeployment {
  readonly poller: Poller;
  /** Real time spent inside the handler (our code and its awaits on moto and NewStore). */
  handlerMs(): number;
  /** What the refresh schedule sends; resolves once the broker has taken it off the queue. */
  refreshDue(at: number): Promise<void>;
  /** Resolves once the poller has handled `count` messages in all. */
  handled(count: number, timeoutMs?: number): Promise<void>;
  pause(): Promise<void>;
  resume(): void;
  stop(): Promise<void>;
}

export interface World {
  moto: MotoServer;
  sandbox: Sandbox;
  meter: Meter;
  names: Names;
  clients(party: Party): { ssm: SSMClient; events: EventBridgeClient; sqs: SQSClient; destroy(): void };
  /** Wipes moto and the sandbox, provisions the broker's resources and the consumer's reply queue. */
  fresh(): Promise<Provisioned>;
  /** Credentials in SSM as the admin API stores them, and the same client in the sandbox. */
  register(clientId: string, ttlSeconds?: number): Promise<Credentials>;
  /** The version of tokens/{clientId}: how many times it was written (0: never). */
  tokenVersion(clientId: string): Promise<number>;
  /** The real handler (createBrokerHandler) on `clock`, driven by the poller, as `npm start` runs it. */
  deployBroker(provisioned: Provisioned, clock?: Clock): BrokerDeployment;
  close(): Promise<void>;
}

export async function startWorld(stage = "bench"): Promise<World> {
  const moto = await startMoto();
  const sandbox = await startSandbox();
  const meter = new Meter();
  // The broker's clients are built inside createBrokerFromEnv from the environment, like a Lambda's:
  // they get the counting proxy; every client of the benchmark names moto itself.
  const proxy = await meter.proxy(moto.endpoint, "broker");
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: proxy.url,
    AWS_REGION: REGION,
    AWS_DEFAULT_REGION: REGION,
    AWS_ACCESS_KEY_ID: "bench",
    AWS_SECRET_ACCESS_KEY: "bench",
    // Powertools would print EMF lines on stdout, where the report goes.
    POWERTOOLS_METRICS_DISABLED: "true",
  });
  const names = namesFor(stage);
  const config = { endpoint: moto.endpoint, region: REGION, maxAttempts: 1 };
  const clients = (party: Party) => {
    const set = {
      ssm: meter.instrument(new SSMClient(config), party),
      events: meter.instrument(new EventBridgeClient(config), party),
      sqs: meter.instrument(new SQSClient(config), party),
    };
    return { ...set, destroy: () => Object.values(set).forEach((c) => c.destroy()) };
  };
  const setup = clients("setup");
  const deployments = new Set<BrokerDeployment>();

  const world: World = {
    moto,
    sandbox,
    meter,
    names,
    clients,
    async fresh() {
      for (const d of deployments) await d.stop();
      await moto.reset();
      sandbox.reset();
      const aws = { sqs: setup.sqs, events: setup.events };
      const resources = await provisionBroker(aws, names, { visibilityTimeoutSeconds: localDefaults.visibilityTimeoutSeconds });
      const replies = await provisionReplyQueue(aws, names, REQUESTER);
      meter.reset();
      return { resources, replies };
    },
    async register(clientId, ttlSeconds = 3600) {
      const at = new Date().toISOString();
      const credentials: Credentials = {
        clientId,
        clientSecret: `secret-${randomUUID()}`,
        tenant: "acme-sandbox",
        roles: ["iam:providers:read"],
        createdAt: at,
        updatedAt: at,
      };
      await ssmParameterStore(setup.ssm).put(credentialsParameterName(names, clientId), JSON.stringify(credentials));
      sandbox.register({ ...credentials, ttlSeconds });
      return credentials;
    },
    async tokenVersion(clientId) {
      return (await ssmParameterStore(setup.ssm).get(tokenParameterName(names, clientId)))?.version ?? 0;
    },
    deployBroker({ resources }, clock = systemClock) {
      const handler = createBrokerHandler({
        env: { [Env.stage]: names.stage, [Env.tokenUrl]: sandbox.tokenUrlTemplate },
        aws: { maxAttempts: 1 },
        clock,
        log: silentLogger,
      });
      let inside = 0;
      const timed: SqsHandler = async (event, context) => {
        const started = performance.now();
        try {
          return await handler(event, context);
        } finally {
          inside += performance.now() - started;
        }
      };
      const poll = clients("poller");
      const schedule = clients("schedule");
      const work = sqsWorkQueue(schedule.sqs, resources.requestQueue.url);
      const start = () =>
        startPoller({ sqs: poll.sqs, queueUrl: resources.requestQueue.url, queueArn: resources.requestQueue.arn, region: REGION, handler: timed });
      let poller: Poller | undefined = start();
      let before = 0; // messages handled by pollers stopped earlier
      const total = () => before + (poller?.stats.messages ?? 0);
      const deployment: BrokerDeployment = {
        get poller() {
          if (!poller) throw new Error("the broker is paused");
          return poller;
        },
        handlerMs: () => inside,
        async refreshDue(at) {
          const seen = total();
          await work.send(refreshDueMessage(randomUUID(), new Date(at).toISOString()));
          await deployment.handled(seen + 1);
        },
        async handled(count, timeoutMs = 120_000) {
          const deadline = Date.now() + timeoutMs;
          while (total() < count) {
            if (Date.now() > deadline) throw new Error(`the broker handled ${total()} of ${count} messages in ${timeoutMs} ms`);
            await new Promise((r) => setTimeout(r, 2));
          }
        },
        async pause() {
          await poller?.stop();
          before += poller?.stats.messages ?? 0;
          poller = undefined;
        },
        resume() {
          poller ??= start();
        },
        async stop() {
          await deployment.pause();
          poll.destroy();
          schedule.destroy();
          deployments.delete(deployment);
        },
      };
      deployments.add(deployment);
      return deployment;
    },
    async close() {
      for (const d of deployments) await d.stop();
      setup.destroy();
      await proxy.close();
      await sandbox.close();
      await moto.stop();
    },
  };
  return world;
}
