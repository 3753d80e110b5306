// The whole broker on one machine: moto (or a given endpoint), the NewStore sandbox (or a given
// token URL), the resources the stack deploys, the broker behind the queue poller, the refresh
// timer, and the admin API over HTTP. Everything is the production code, wired locally.
import { randomUUID } from "node:crypto";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { ListQueuesCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { AdminEnv, brokerQueue, Env, localDefaults, monitorPattern, refreshDueMessage, refreshSchedule } from "@newstore-auth/core/settings";
import type { Logger } from "@newstore-auth/core/ports";
import { createAdminHandler } from "@newstore-auth/functions/admin";
import { createBrokerHandler } from "@newstore-auth/functions/broker";
import type { APIGatewayProxyEvent } from "aws-lambda";
import { type HttpApi, startHttpApi } from "../http-api.js";
import { type MotoServer, startMoto } from "../moto.js";
import { type Poller, startPoller } from "../poller.js";
import { type BrokerResources, provisionBroker, provisionCliReplyQueue, provisionEventsTail } from "../provision.js";
import { type Sandbox, startSandbox } from "../sandbox.js";
import type { RuntimeConfig } from "./config.js";
import { type Monitor, startMonitor } from "./monitor.js";
import { removeSession, type Session, writeSession } from "./session.js";

export interface Runtime {
  session: Session;
  resources: BrokerResources;
  /** What provisioning created; empty when everything existed already. */
  created: string[];
  sandbox?: Sandbox;
  stop(): Promise<void>;
}

export class StartupError extends Error {}

export async function startRuntime(config: RuntimeConfig, options: { write: (line: string) => void; log: Logger; env: Record<string, string | undefined> }): Promise<Runtime> {
  const { write, log } = options;
  const stops: Array<() => Promise<unknown>> = [];
  let stopped: Promise<void> | undefined;
  // In reverse order of starting: the poller finishes its batch before moto goes away.
  const stopAll = () =>
    (stopped ??= (async () => {
      for (const stop of [...stops].reverse()) await stop().catch(() => undefined);
    })());
  let ready = false;
  let health: Record<string, unknown> = {};

  try {
    // The admin port first: a port in use is the most common failure and costs nothing to find.
    let delegate: ((event: APIGatewayProxyEvent) => ReturnType<ReturnType<typeof createAdminHandler>>) | undefined;
    let api: HttpApi;
    try {
      api = await startHttpApi(
        async (event) => {
          if (event.path === "/health") {
            return { statusCode: ready ? 200 : 503, headers: { "content-type": "application/json" }, body: JSON.stringify(ready ? health : { status: "starting" }) };
          }
          if (!delegate) return { statusCode: 503, headers: { "content-type": "application/json" }, body: JSON.stringify({ error: { code: "INTERNAL", message: "starting" } }) };
          return delegate(event);
        },
        { port: config.adminPort },
      );
    } catch (error) {
      if ((error as { code?: string }).code === "EADDRINUSE") {
        throw new StartupError(`port ${config.adminPort} on 127.0.0.1 is taken: stop what uses it or set ${"NEWSTORE_AUTH_ADMIN_PORT"} to a free port`);
      }
      throw error;
    }
    stops.push(() => api.close());

    // AWS: the endpoint given, or moto on a free port.
    let moto: MotoServer | undefined;
    let endpoint = config.endpoint;
    if (!endpoint) {
      try {
        moto = await startMoto();
      } catch (error) {
        throw new StartupError((error as Error).message);
      }
      stops.push(() => moto!.stop());
      endpoint = moto.endpoint;
    }
    process.env.AWS_ENDPOINT_URL = endpoint;
    process.env.AWS_REGION = config.region;
    // moto takes any credentials; a developer's real ones are not needed and not used.
    if (moto || !process.env.AWS_ACCESS_KEY_ID) {
      process.env.AWS_ACCESS_KEY_ID ??= "local";
      process.env.AWS_SECRET_ACCESS_KEY ??= "local";
    }
    const sqs = new SQSClient({});
    const events = new EventBridgeClient({});
    stops.push(async () => (sqs.destroy(), events.destroy()));
    try {
      await sqs.send(new ListQueuesCommand({ MaxResults: 1 }), { abortSignal: AbortSignal.timeout(5_000) });
    } catch (error) {
      throw new StartupError(
        `the AWS endpoint ${endpoint} does not answer (${(error as Error).name}): start it, or unset AWS_ENDPOINT_URL to launch moto`,
      );
    }

    // NewStore: the token URL given, or the sandbox with a demo client.
    let sandbox: Sandbox | undefined;
    let tokenUrl = config.tokenUrl;
    if (!tokenUrl) {
      sandbox = await startSandbox();
      stops.push(() => sandbox!.close());
      sandbox.register({ ...localDefaults.demoClient, roles: [...localDefaults.demoClient.roles] });
      tokenUrl = sandbox.tokenUrlTemplate;
    }

    const aws = { sqs, events };
    const resources = await provisionBroker(aws, config.names, { visibilityTimeoutSeconds: localDefaults.visibilityTimeoutSeconds });
    const created = [...resources.created];
    const cli = await provisionCliReplyQueue(aws, config.names, created);
    const monitorQueue = await provisionEventsTail(aws, config.names, "monitor", monitorPattern, created);

    const tuning = Object.fromEntries(Object.values(Env).map((k) => [k, options.env[k]]).filter(([, v]) => v));
    const broker = createBrokerHandler({ env: { ...tuning, [Env.stage]: config.names.stage, [Env.tokenUrl]: tokenUrl }, log });
    const poller: Poller = startPoller({
      sqs,
      queueUrl: resources.requestQueue.url,
      queueArn: resources.requestQueue.arn,
      region: config.region,
      handler: broker,
      log,
    });
    stops.push(() => poller.stop());

    // The schedule rule's local stand-in: the same work item, on the same queue.
    const timer = setInterval(() => {
      sqs
        .send(
          new SendMessageCommand({
            QueueUrl: resources.requestQueue.url,
            MessageGroupId: brokerQueue.messageGroupId,
            MessageBody: JSON.stringify(refreshDueMessage(randomUUID(), new Date().toISOString())),
          }),
        )
        .catch((error: Error) => log.warn("could not send token.refresh-due", { error: error.name }));
    }, refreshSchedule.everyMinutes * 60_000);
    stops.push(async () => clearInterval(timer));

    const monitor: Monitor = startMonitor(sqs, monitorQueue.url, write);
    stops.push(() => monitor.stop());

    delegate = createAdminHandler({
      env: {
        [Env.stage]: config.names.stage,
        [AdminEnv.brokerQueueUrl]: resources.requestQueue.url,
        [AdminEnv.apiKey]: config.apiKey,
        [AdminEnv.defaultTenant]: options.env[AdminEnv.defaultTenant] || (sandbox ? localDefaults.demoClient.tenant : undefined),
        [AdminEnv.allowedRoles]: options.env[AdminEnv.allowedRoles],
      },
      log,
    });

    const session: Session = {
      pid: process.pid,
      stage: config.names.stage,
      apiUrl: api.url,
      apiKey: config.apiKey,
      awsEndpoint: endpoint,
      region: config.region,
      ...(sandbox ? { sandboxUrl: sandbox.url } : {}),
      ...(moto ? { motoPid: moto.pid } : {}),
    };
    writeSession(session);
    stops.push(async () => removeSession(config.names.stage));
    health = {
      status: "ok",
      stage: config.names.stage,
      pid: process.pid,
      motoPid: moto?.pid ?? null,
      awsEndpoint: endpoint,
      sandbox: sandbox?.url ?? null,
      created,
      queues: { broker: resources.requestQueue.url, cliReplies: cli.url },
    };
    ready = true;
    return { session, resources, created, sandbox, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
