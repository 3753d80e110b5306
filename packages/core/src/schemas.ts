// The contracts of DESIGN.md as zod schemas: the single source of the types.
import { z } from "zod";

/** SSM parameter names allow a-zA-Z0-9_.- (and / for paths, which a client id must not hold). */
export const ClientId = z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/, "must be 1-128 of A-Z a-z 0-9 _ . -");
/** The Keycloak realm; it carries the stage (acme-sandbox, acme-staging, acme). */
export const Tenant = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "must be 1-63 of a-z 0-9 -");
/** The name replies are routed by: an exact-match value in the consumer's EventBridge rule. */
export const Requester = z.string().regex(/^[A-Za-z0-9_.:@/-]{1,256}$/, "must be 1-256 of A-Z a-z 0-9 _ . : @ / -");
const IsoTime = z.iso.datetime();
const Version = z.int().positive();

export const ErrorCode = z.enum([
  "INVALID_REQUEST",
  "UNKNOWN_CLIENT",
  "NEWSTORE_REJECTED",
  "NEWSTORE_UNAVAILABLE",
  "INTERNAL",
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

export const RotationReason = z.enum(["requested", "scheduled", "forced", "credentials-changed"]);
export type RotationReason = z.infer<typeof RotationReason>;

// SSM values

export const Credentials = z.object({
  clientId: ClientId,
  clientSecret: z.string().min(1).max(1024),
  tenant: Tenant,
  roles: z.array(z.string().min(1).max(128)).max(100),
  createdAt: IsoTime,
  updatedAt: IsoTime,
});
export type Credentials = z.infer<typeof Credentials>;

export const StoredToken = z.object({
  clientId: ClientId,
  accessToken: z.string().min(1),
  tokenType: z.string(),
  scope: z.string(),
  issuedAt: IsoTime,
  expiresAt: IsoTime,
});
export type StoredToken = z.infer<typeof StoredToken>;

// Events

export const TokenRequested = z.object({
  requestId: z.uuid(),
  clientId: ClientId,
  requester: Requester,
  minValiditySeconds: z.int().min(0).max(86_400).optional(),
  forceRefresh: z.boolean().optional(),
});
export type TokenRequested = z.infer<typeof TokenRequested>;

export const TokenReady = z.object({
  requestId: z.uuid(),
  clientId: ClientId,
  requester: Requester,
  parameterName: z.string(),
  parameterVersion: Version,
  expiresAt: IsoTime,
});
export type TokenReady = z.infer<typeof TokenReady>;

// A failure may answer a request that was itself invalid, so it echoes what could be read.
export const TokenFailed = z.object({
  requestId: z.string().min(1).max(256),
  clientId: z.string().max(256),
  requester: Requester,
  code: ErrorCode,
  message: z.string(),
  retryable: z.boolean(),
});
export type TokenFailed = z.infer<typeof TokenFailed>;

export const TokenRotated = z.object({
  clientId: ClientId,
  parameterName: z.string(),
  parameterVersion: Version,
  expiresAt: IsoTime,
  reason: RotationReason,
});
export type TokenRotated = z.infer<typeof TokenRotated>;

export const TokenRevoked = z.object({
  clientId: ClientId,
  reason: z.string(),
});
export type TokenRevoked = z.infer<typeof TokenRevoked>;

/** What EventBridge delivers to an SQS target without an input transformer. */
export const EventEnvelope = z.object({
  version: z.string().optional(),
  id: z.string(),
  "detail-type": z.string(),
  source: z.string(),
  account: z.string().optional(),
  time: z.string().optional(),
  region: z.string().optional(),
  resources: z.array(z.string()).optional(),
  detail: z.unknown(),
});
export type EventEnvelope = z.infer<typeof EventEnvelope>;

/** An event the broker publishes, before the adapter adds source and bus. */
export type BrokerEvent =
  | { detailType: "token.ready"; detail: TokenReady }
  | { detailType: "token.failed"; detail: TokenFailed }
  | { detailType: "token.rotated"; detail: TokenRotated }
  | { detailType: "token.revoked"; detail: TokenRevoked };

/** NewStore's (Keycloak's) token response. */
export const NewStoreTokenResponse = z.object({
  access_token: z.string().min(1),
  expires_in: z.number().int().positive(),
  token_type: z.string().default("Bearer"),
  scope: z.string().default(""),
});

/** NewStore's (OAuth's) error body. */
export const NewStoreErrorResponse = z.object({
  error: z.string(),
  error_description: z.string().optional(),
});

/** Short, value-free description of what failed validation: paths and rules, never input. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length ? issue.path.join(".") : "(root)"}: ${issue.message}`)
    .join("; ");
}

// Admin API bodies. `role` (singular) is what existing users send; `roles` and `tenant` are new.

const Secret = z.string().min(1).max(1024);
const Role = z.string().min(1).max(128);

export const CreateCredentialsBody = z.strictObject({
  client_id: ClientId,
  client_secret: Secret,
  role: Role.optional(),
  roles: z.array(Role).max(100).optional(),
  tenant: Tenant.optional(),
});
export type CreateCredentialsBody = z.infer<typeof CreateCredentialsBody>;

/** PUT: what it names replaces the stored value; what it leaves out is kept. */
export const ReplaceCredentialsBody = z.strictObject({
  client_id: ClientId.optional(),
  client_secret: Secret.optional(),
  role: Role.optional(),
  roles: z.array(Role).max(100).optional(),
  tenant: Tenant.optional(),
});
export type ReplaceCredentialsBody = z.infer<typeof ReplaceCredentialsBody>;

/** The failing fields of a body, by name; messages describe rules, never the values sent. */
export function fieldErrors(error: z.ZodError): Record<string, string> {
  // No prototype: a field named "__proto__" must be reported as a key, not set a prototype.
  const fields: Record<string, string> = Object.create(null);
  for (const issue of error.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) fields[key.slice(0, 64)] = "unknown field";
      continue;
    }
    const field = issue.path.length ? issue.path.join(".") : "body";
    fields[field] ??= issue.message;
  }
  return fields;
}
