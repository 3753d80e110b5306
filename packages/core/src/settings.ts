// The one module of names, event patterns and queue settings. The SST stacks and the local
// runtime both read it, so a deployed stage and `npm start` cannot drift apart.

export const APP_NAME = "newstore-auth";
export const BROKER_SOURCE = "newstore-auth.broker";
/** Source of the broker's internal work items (the refresh schedule, the admin API). */
export const INTERNAL_SOURCE = "newstore-auth.internal";

export const DetailType = {
  requested: "token.requested",
  ready: "token.ready",
  failed: "token.failed",
  rotated: "token.rotated",
  revoked: "token.revoked",
} as const;
export type DetailTypeName = (typeof DetailType)[keyof typeof DetailType];

/**
 * Work the broker takes only from its own queue, never from the bus: the bus rule forwards
 * `token.requested` alone, so a consumer cannot send these.
 */
export const InternalDetailType = {
  refreshDue: "token.refresh-due",
  /** From the admin API after PUT: refresh the client's token with the new credentials. */
  credentialsChanged: "credentials.changed",
  /** From the admin API after DELETE: remove the client's token, publish token.revoked. */
  credentialsDeleted: "credentials.deleted",
} as const;

/** NewStore's roles (scopes) known today; the allowed list is configuration with this default. */
export const DEFAULT_ALLOWED_ROLES = [
  "audit-events:read",
  "catalog:import-schemas:read",
  "catalog:import-schemas:write",
  "catalog:pricebook-export:read",
  "catalog:product-export:read",
  "checkout:carts:read",
  "checkout:carts:write",
  "clienteling:profile:read",
  "customer:profile:read",
  "customer:profile:write",
  "fiscalization:orders:read",
  "fiscalization:orders:write",
  "iam:providers:read",
  "iam:providers:write",
  "iam:roles:read",
  "iam:roles:write",
  "iam:users:read",
  "iam:users:write",
  "inventory:reservations:read",
  "inventory:reservations:write",
  "newstore:configuration:read",
  "newstore:configuration:write",
  "promotions:config:read",
  "promotions:config:write",
  "promotions:reason-codes:read",
  "promotions:reason-codes:write",
  "shipments:read",
  "taxes:preview-transactions:write",
  "taxes:transactions:read",
] as const;

export const adminApi = {
  maxBodyBytes: 16 * 1024,
  /** Usage plan throttling: operators, not traffic. */
  throttleRatePerSecond: 5,
  throttleBurst: 10,
  defaultPageSize: 25,
  maxPageSize: 100,
} as const;

/** The CLI's requester name: `token get` waits on replies routed by it, like any consumer. */
export const CLI_REQUESTER = "newstore-auth-cli";

export interface Names {
  stage: string;
  /** `/newstore-auth/{stage}`: every SSM parameter lives below it. */
  parameterPrefix: string;
  busName: string;
  requestQueueName: string;
  deadLetterQueueName: string;
  /** Reply queue of the operator CLI (`token get`). */
  cliReplyQueueName: string;
  /** The admin REST API, its key and usage plan. */
  adminApiName: string;
}

export interface NameOverrides {
  parameterPrefix?: string;
  busName?: string;
}

const STAGE = /^[A-Za-z0-9-]{1,40}$/;

export function namesFor(stage: string, overrides: NameOverrides = {}): Names {
  if (!STAGE.test(stage)) {
    throw new Error(`stage must match ${STAGE} (letters, digits, '-'), got ${JSON.stringify(stage)}`);
  }
  const parameterPrefix = (overrides.parameterPrefix ?? `/${APP_NAME}/${stage}`).replace(/\/+$/, "");
  if (!parameterPrefix.startsWith("/")) {
    throw new Error(`parameter prefix must start with '/', got ${JSON.stringify(parameterPrefix)}`);
  }
  return {
    stage,
    parameterPrefix,
    busName: overrides.busName ?? `${APP_NAME}-${stage}`,
    // FIFO queue names must end in .fifo, and so must their dead-letter queues.
    requestQueueName: `${APP_NAME}-${stage}-broker.fifo`,
    deadLetterQueueName: `${APP_NAME}-${stage}-broker-dlq.fifo`,
    cliReplyQueueName: `${APP_NAME}-${stage}-cli-replies`,
    adminApiName: `${APP_NAME}-${stage}-admin`,
  };
}

export const usageParameterPath = (names: Pick<Names, "parameterPrefix">) => `${names.parameterPrefix}/usage`;

/** When the broker last saw a request for a client (its own bookkeeping for scheduled refresh). */
export const usageParameterName = (names: Pick<Names, "parameterPrefix">, clientId: string) =>
  `${usageParameterPath(names)}/${clientId}`;

export const credentialsParameterPath = (names: Pick<Names, "parameterPrefix">) => `${names.parameterPrefix}/credentials`;

export const credentialsParameterName = (names: Pick<Names, "parameterPrefix">, clientId: string) =>
  `${credentialsParameterPath(names)}/${clientId}`;

export const tokenParameterName = (names: Pick<Names, "parameterPrefix">, clientId: string) =>
  `${names.parameterPrefix}/tokens/${clientId}`;

/** EventBridge pattern of the rule that feeds the broker's queue. */
export const requestPattern = { "detail-type": [DetailType.requested] };

/** EventBridge pattern of a consumer's reply rule: the broker's answers routed by requester. */
export const replyPattern = (requester: string) => ({
  source: [BROKER_SOURCE],
  "detail-type": [DetailType.ready, DetailType.failed],
  detail: { requester: [requester] },
});

/** EventBridge pattern of a consumer's rotation rule: rotations and revocations of its clients. */
export const rotationPattern = (clientIds: readonly string[]) => ({
  source: [BROKER_SOURCE],
  "detail-type": [DetailType.rotated, DetailType.revoked],
  detail: { clientId: [...clientIds] },
});

/** EventBridge pattern that matches everything the broker publishes (events tail, audit). */
export const brokerEventsPattern = { source: [BROKER_SOURCE] };

export const brokerQueue = {
  // One message group: FIFO then hands the broker one batch at a time (see DESIGN).
  messageGroupId: "newstore-auth-broker",
  batchSize: 10,
  functionTimeoutSeconds: 60,
  // AWS's guidance for SQS event sources: at least 6 × the function timeout.
  visibilityTimeoutSeconds: 6 * 60,
  maxReceiveCount: 5,
  retentionSeconds: 4 * 24 * 3600,
  deadLetterRetentionSeconds: 14 * 24 * 3600,
} as const;

export const brokerDefaults = {
  /** A token is served only while it stays valid this long. */
  marginSeconds: 300,
  /** forceRefresh is honoured at most once per client per this many seconds. */
  forceRefreshIntervalSeconds: 60,
  /**
   * After NewStore rejects a client's credentials, requests for it are answered with that
   * rejection without calling NewStore again, until the credentials change or this passes.
   */
  rejectionHoldSeconds: 60,
  tokenUrlTemplate: "https://id.p.newstore.net/auth/realms/{tenant}/protocol/openid-connect/token",
  attemptTimeoutMs: 5_000,
  /** Time allowed for all attempts of one NewStore call, retries included. */
  budgetMs: 20_000,
  retryAfterCapMs: 5_000,
  backoffBaseMs: 200,
  backoffCapMs: 2_000,
  /** The schedule refreshes tokens expiring within this; above the consumers' 300 s margin. */
  refreshAheadSeconds: 600,
  /** Clients not requested for this long are no longer refreshed on schedule. */
  idleWindowSeconds: 24 * 3600,
  /** The broker records a client's last request in SSM at most this often. */
  usageWriteIntervalSeconds: 3600,
  /** Time the broker keeps for itself at the end of a batch (publishing, SSM writes). */
  batchReserveMs: 8_000,
} as const;

export const refreshSchedule = {
  /** How often `token.refresh-due` reaches the broker's queue. */
  everyMinutes: 5,
} as const;

/** A work item for the broker's queue, shaped like the events the queue carries. */
export function workItem(detailType: string, detail: object, id: string, time: string) {
  return { version: "0", id, "detail-type": detailType, source: INTERNAL_SOURCE, time, detail };
}

/** What the refresh schedule sends (the stack fills id and time from the scheduled event). */
export const refreshDueMessage = (id: string, time: string) => workItem(InternalDetailType.refreshDue, {}, id, time);

/** The local runtime's monitor: requests and everything the broker answers, to print and time. */
export const monitorPattern = { "detail-type": Object.values(DetailType) };

export const consumerDefaults = {
  minValiditySeconds: 300,
  timeoutMs: 10_000,
  /** Replies nobody took are worthless after a few minutes: the queue drops them. */
  replyRetentionSeconds: 15 * 60,
} as const;

/** Environment variables the consumer SDK reads; the TokenConsumer construct sets them. */
export const ConsumerEnv = {
  requester: "NEWSTORE_AUTH_REQUESTER",
  busName: "NEWSTORE_AUTH_BUS_NAME",
  replyQueueUrl: "NEWSTORE_AUTH_REPLY_QUEUE_URL",
  parameterPrefix: "NEWSTORE_AUTH_PARAMETER_PREFIX",
} as const;

/** Environment variables the broker reads; the stack sets them, so does the local runtime. */
export const Env = {
  stage: "NEWSTORE_AUTH_STAGE",
  parameterPrefix: "NEWSTORE_AUTH_PARAMETER_PREFIX",
  busName: "NEWSTORE_AUTH_BUS_NAME",
  tokenUrl: "NEWSTORE_TOKEN_URL",
  marginSeconds: "NEWSTORE_AUTH_MARGIN_SECONDS",
  forceRefreshIntervalSeconds: "NEWSTORE_AUTH_FORCE_REFRESH_INTERVAL_SECONDS",
  rejectionHoldSeconds: "NEWSTORE_AUTH_REJECTION_HOLD_SECONDS",
  refreshAheadSeconds: "NEWSTORE_AUTH_REFRESH_AHEAD_SECONDS",
  idleWindowSeconds: "NEWSTORE_AUTH_IDLE_WINDOW_SECONDS",
  /** The customer-managed KMS key of the SecureStrings; unset: the account's aws/ssm key. */
  kmsKeyId: "NEWSTORE_AUTH_KMS_KEY_ID",
  newstoreAttemptTimeoutMs: "NEWSTORE_AUTH_NEWSTORE_ATTEMPT_TIMEOUT_MS",
  newstoreBudgetMs: "NEWSTORE_AUTH_NEWSTORE_BUDGET_MS",
} as const;

/** The local runtime (`npm start`): its interface is fixed in DESIGN. */
export const LocalEnv = {
  endpoint: "AWS_ENDPOINT_URL",
  region: "AWS_REGION",
  tokenUrl: "NEWSTORE_TOKEN_URL",
  stage: "NEWSTORE_AUTH_STAGE",
  adminPort: "NEWSTORE_AUTH_ADMIN_PORT",
  apiKey: "NEWSTORE_AUTH_API_KEY",
} as const;

export const localDefaults = {
  region: "us-east-1",
  stage: "local",
  adminPort: 8787,
  /** Failed batches come back sooner than on AWS, where the function timeout sets it. */
  visibilityTimeoutSeconds: 30,
  /** A client the built-in sandbox knows; its secret only works against the sandbox. */
  demoClient: { clientId: "demo-client", clientSecret: "demo-secret", tenant: "acme-sandbox", roles: ["iam:providers:read"] },
} as const;

/** Environment variables the admin API reads (stage, prefix and bus as in Env). */
export const AdminEnv = {
  brokerQueueUrl: "NEWSTORE_AUTH_BROKER_QUEUE_URL",
  /** Comma-separated; unset: DEFAULT_ALLOWED_ROLES. */
  allowedRoles: "NEWSTORE_AUTH_ALLOWED_ROLES",
  /** Tenant of a POST that names none; unset: the body must name it. */
  defaultTenant: "NEWSTORE_AUTH_DEFAULT_TENANT",
  /** Checked by the handler when set (locally); on AWS, API Gateway checks the key. */
  apiKey: "NEWSTORE_AUTH_API_KEY",
  apiUrl: "NEWSTORE_AUTH_API_URL",
} as const;
