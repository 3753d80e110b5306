// Wiring of the broker from environment variables: shared by the Lambda handler and the local
// runtime, so both read the same settings the same way.
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { SQSClient } from "@aws-sdk/client-sqs";
import { SSMClient } from "@aws-sdk/client-ssm";
import { type Admin, createAdmin } from "./admin.js";
import { sqsWorkQueue } from "./aws/sqs.js";
import { type Broker, createBroker } from "./broker.js";
import { eventBridgePublisher } from "./aws/eventbridge.js";
import { ssmParameterStore } from "./aws/ssm.js";
import { createNewStoreClient } from "./newstore.js";
import { type Clock, type Logger, type Metrics, systemClock } from "./ports.js";
import { AdminEnv, brokerDefaults, DEFAULT_ALLOWED_ROLES, Env, type Names, namesFor } from "./settings.js";
import { Tenant } from "./schemas.js";

export interface BrokerSettings {
  names: Names;
  marginSeconds: number;
  forceRefreshIntervalSeconds: number;
  rejectionHoldSeconds: number;
  refreshAheadSeconds: number;
  idleWindowSeconds: number;
  tokenUrlTemplate: string;
  kmsKeyId?: string;
  attemptTimeoutMs: number;
  budgetMs: number;
}

type Environment = Record<string, string | undefined>;

export function brokerSettingsFromEnv(env: Environment): BrokerSettings {
  const stage = env[Env.stage];
  if (!stage) throw new Error(`${Env.stage} is not set: the broker needs its stage to name its resources`);
  return {
    names: namesFor(stage, { parameterPrefix: env[Env.parameterPrefix] || undefined, busName: env[Env.busName] || undefined }),
    marginSeconds: seconds(env, Env.marginSeconds, brokerDefaults.marginSeconds),
    forceRefreshIntervalSeconds: seconds(env, Env.forceRefreshIntervalSeconds, brokerDefaults.forceRefreshIntervalSeconds),
    rejectionHoldSeconds: seconds(env, Env.rejectionHoldSeconds, brokerDefaults.rejectionHoldSeconds),
    refreshAheadSeconds: seconds(env, Env.refreshAheadSeconds, brokerDefaults.refreshAheadSeconds),
    idleWindowSeconds: seconds(env, Env.idleWindowSeconds, brokerDefaults.idleWindowSeconds),
    tokenUrlTemplate: env[Env.tokenUrl] || brokerDefaults.tokenUrlTemplate,
    kmsKeyId: env[Env.kmsKeyId] || undefined,
    attemptTimeoutMs: whole(env, Env.newstoreAttemptTimeoutMs, brokerDefaults.attemptTimeoutMs),
    budgetMs: whole(env, Env.newstoreBudgetMs, brokerDefaults.budgetMs),
  };
}

export interface AwsClientOptions {
  /** Tests set 1 so that an emulator's 500 is not retried into duplicate events. */
  maxAttempts?: number;
}

export function createBrokerFromEnv(env: Environment, log: Logger, aws: AwsClientOptions = {}, clock: Clock = systemClock, metrics?: Metrics): Broker {
  const settings = brokerSettingsFromEnv(env);
  // The SDK reads AWS_REGION and AWS_ENDPOINT_URL itself; nothing here overrides them.
  const ssm = new SSMClient({ maxAttempts: aws.maxAttempts });
  const eventBridge = new EventBridgeClient({ maxAttempts: aws.maxAttempts });
  const { tokenUrlTemplate, kmsKeyId, attemptTimeoutMs, budgetMs, ...config } = settings;
  return createBroker(config, {
    parameters: ssmParameterStore(ssm, { kmsKeyId }),
    events: eventBridgePublisher(eventBridge, { busName: settings.names.busName, log }),
    newstore: createNewStoreClient({ tokenUrlTemplate, attemptTimeoutMs, budgetMs }),
    clock,
    log,
    metrics,
  });
}

export interface AdminSettings {
  names: Names;
  brokerQueueUrl: string;
  allowedRoles: string[];
  defaultTenant?: string;
  /** Checked by the handler when set; on AWS, API Gateway checks the key instead. */
  apiKey?: string;
  kmsKeyId?: string;
}

export function adminSettingsFromEnv(env: Environment): AdminSettings {
  const stage = env[Env.stage];
  if (!stage) throw new Error(`${Env.stage} is not set: the admin API needs its stage to name its resources`);
  const brokerQueueUrl = env[AdminEnv.brokerQueueUrl];
  if (!brokerQueueUrl) throw new Error(`${AdminEnv.brokerQueueUrl} is not set: the admin API tells the broker through its queue`);
  const roles = env[AdminEnv.allowedRoles]?.split(",").map((r) => r.trim()).filter(Boolean);
  const defaultTenant = env[AdminEnv.defaultTenant] || undefined;
  if (defaultTenant && !Tenant.safeParse(defaultTenant).success) {
    throw new Error(`${AdminEnv.defaultTenant} must be 1-63 of a-z 0-9 -, got ${JSON.stringify(defaultTenant)}`);
  }
  return {
    names: namesFor(stage, { parameterPrefix: env[Env.parameterPrefix] || undefined, busName: env[Env.busName] || undefined }),
    brokerQueueUrl,
    allowedRoles: roles?.length ? roles : [...DEFAULT_ALLOWED_ROLES],
    defaultTenant,
    apiKey: env[AdminEnv.apiKey] || undefined,
    kmsKeyId: env[Env.kmsKeyId] || undefined,
  };
}

export function createAdminFromSettings(settings: AdminSettings, log: Logger, aws: AwsClientOptions = {}): Admin {
  return createAdmin(settings, {
    parameters: ssmParameterStore(new SSMClient({ maxAttempts: aws.maxAttempts }), { kmsKeyId: settings.kmsKeyId }),
    work: sqsWorkQueue(new SQSClient({ maxAttempts: aws.maxAttempts }), settings.brokerQueueUrl),
    clock: systemClock,
    log,
  });
}

const seconds = (env: Environment, name: string, fallback: number) => whole(env, name, fallback, "seconds");

function whole(env: Environment, name: string, fallback: number, unit = "milliseconds"): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a whole number of ${unit}, got ${JSON.stringify(raw)}`);
  return value;
}
