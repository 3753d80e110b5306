// The admin API's operations on credentials, pure over ports. Only it writes credentials; the
// broker stays the only writer of tokens: changes reach it as work items on its queue.
import { randomUUID } from "node:crypto";
import type { z } from "zod";
import { safeJson } from "./messages.js";
import { type Clock, type Logger, ParameterExistsError, type ParameterStore, type WorkQueue } from "./ports.js";
import {
  ClientId,
  CreateCredentialsBody,
  Credentials,
  fieldErrors,
  ReplaceCredentialsBody,
  StoredToken,
} from "./schemas.js";
import {
  adminApi,
  brokerDefaults,
  credentialsParameterName,
  credentialsParameterPath,
  InternalDetailType,
  type Names,
  tokenParameterName,
  workItem,
} from "./settings.js";

export type AdminErrorCode = "INVALID_REQUEST" | "FORBIDDEN" | "NOT_FOUND" | "CONFLICT" | "PAYLOAD_TOO_LARGE" | "UNSUPPORTED_MEDIA_TYPE" | "METHOD_NOT_ALLOWED" | "INTERNAL";

export class AdminError extends Error {
  constructor(
    readonly status: number,
    readonly code: AdminErrorCode,
    message: string,
    readonly fields?: Record<string, string>,
  ) {
    super(message);
    this.name = "AdminError";
  }
}

export interface AdminConfig {
  names: Pick<Names, "parameterPrefix">;
  allowedRoles: readonly string[];
  defaultTenant?: string;
}

export interface AdminPorts {
  parameters: ParameterStore;
  work: WorkQueue;
  clock: Clock;
  log: Logger;
}

export interface CredentialsMetadata {
  clientId: string;
  tenant: string;
  roles: string[];
  createdAt: string;
  updatedAt: string;
}

export interface TokenStatus {
  /** `expiring`: inside the broker's margin; the next request refreshes it. */
  state: "none" | "valid" | "expiring" | "expired";
  expiresAt?: string;
  lastRefreshAt?: string;
  version?: number;
}

export type CredentialsView = CredentialsMetadata & { token: TokenStatus };

export interface Admin {
  create(body: unknown): Promise<CredentialsMetadata>;
  replace(clientId: string, body: unknown): Promise<CredentialsMetadata>;
  list(page?: { limit?: number; nextToken?: string }): Promise<{ items: CredentialsView[]; nextToken?: string }>;
  show(clientId: string): Promise<CredentialsView>;
  remove(clientId: string): Promise<void>;
}

export function createAdmin(config: AdminConfig, ports: AdminPorts): Admin {
  const { parameters, work, clock, log } = ports;
  const allowed = new Set(config.allowedRoles);

  function parse<T>(schema: z.ZodType<T>, body: unknown): T {
    const parsed = schema.safeParse(body);
    if (!parsed.success) throw new AdminError(400, "INVALID_REQUEST", "the body is invalid", fieldErrors(parsed.error));
    return parsed.data;
  }

  function checkClientId(clientId: string) {
    if (!ClientId.safeParse(clientId).success) {
      throw new AdminError(400, "INVALID_REQUEST", "the client id is invalid", { clientId: "must be 1-128 of A-Z a-z 0-9 _ . -" });
    }
  }

  /** `role` and `roles` together name the set; every one must be allowed. */
  function rolesOf(body: { role?: string; roles?: string[] }, required: boolean): string[] | undefined {
    if (body.role === undefined && body.roles === undefined) {
      if (required) throw new AdminError(400, "INVALID_REQUEST", "the body is invalid", { role: "role or roles is required" });
      return undefined;
    }
    const roles = [...new Set([...(body.role ? [body.role] : []), ...(body.roles ?? [])])];
    if (roles.length === 0) throw new AdminError(400, "INVALID_REQUEST", "the body is invalid", { roles: "at least one role is required" });
    const list = [...allowed].join(", ");
    const fields: Record<string, string> = {};
    if (body.role !== undefined && !allowed.has(body.role)) fields.role = `not an allowed role; allowed: ${list}`;
    if (body.roles?.some((r) => !allowed.has(r))) fields.roles = `not an allowed role; allowed: ${list}`;
    if (Object.keys(fields).length > 0) throw new AdminError(400, "INVALID_REQUEST", `unknown role; allowed roles: ${list}`, fields);
    return roles;
  }

  async function readCredentials(clientId: string): Promise<Credentials | undefined> {
    const stored = await parameters.get(credentialsParameterName(config.names, clientId));
    if (!stored) return undefined;
    const parsed = Credentials.safeParse(safeJson(stored.value));
    if (!parsed.success) {
      log.error("stored credentials are unreadable", { clientId });
      throw new AdminError(500, "INTERNAL", `the stored credentials of client ${clientId} are unreadable; replace them with PUT`);
    }
    return parsed.data;
  }

  function tokenStatus(stored: { value: string; version: number } | undefined): TokenStatus {
    const token = stored && StoredToken.safeParse(safeJson(stored.value));
    if (!token?.success) return { state: "none" };
    const left = Date.parse(token.data.expiresAt) - clock.now();
    const state = left <= 0 ? "expired" : left < brokerDefaults.marginSeconds * 1000 ? "expiring" : "valid";
    return { state, expiresAt: token.data.expiresAt, lastRefreshAt: token.data.issuedAt, version: stored!.version };
  }

  async function tell(detailType: string, clientId: string, done: string) {
    try {
      await work.send(workItem(detailType, { clientId }, randomUUID(), new Date(clock.now()).toISOString()));
    } catch (error) {
      log.error("could not reach the broker's queue", { clientId, detailType, error: (error as Error).name });
      throw new AdminError(500, "INTERNAL", `${done}, but the broker could not be told; repeat the request`);
    }
  }

  return {
    async create(body) {
      const input = parse(CreateCredentialsBody, body);
      const roles = rolesOf(input, true)!;
      const tenant = input.tenant ?? config.defaultTenant;
      if (!tenant) throw new AdminError(400, "INVALID_REQUEST", "the body is invalid", { tenant: "required: no default tenant is configured" });
      const now = new Date(clock.now()).toISOString();
      const credentials: Credentials = { clientId: input.client_id, clientSecret: input.client_secret, tenant, roles, createdAt: now, updatedAt: now };
      try {
        await parameters.put(credentialsParameterName(config.names, input.client_id), JSON.stringify(credentials), { create: true });
      } catch (error) {
        if (error instanceof ParameterExistsError) {
          throw new AdminError(409, "CONFLICT", `client ${input.client_id} exists; replace it with PUT /credentials/${input.client_id}`);
        }
        throw error;
      }
      log.info("credentials created", { clientId: input.client_id, tenant, roles });
      return metadata(credentials);
    },

    async replace(clientId, body) {
      checkClientId(clientId);
      const input = parse(ReplaceCredentialsBody, body);
      if (input.client_id !== undefined && input.client_id !== clientId) {
        throw new AdminError(400, "INVALID_REQUEST", "the body is invalid", { client_id: "must match the client id in the path" });
      }
      const roles = rolesOf(input, false);
      if (input.client_secret === undefined && roles === undefined && input.tenant === undefined) {
        throw new AdminError(400, "INVALID_REQUEST", "the body is invalid", { body: "name client_secret, role(s) or tenant to replace" });
      }
      const current = await readCredentials(clientId);
      if (!current) throw new AdminError(404, "NOT_FOUND", `no credentials for client ${clientId}`);
      // updatedAt keys the broker's memory of a rejection: it must change with every replacement.
      const updated = Math.max(clock.now(), Date.parse(current.updatedAt) + 1);
      const next: Credentials = {
        ...current,
        clientSecret: input.client_secret ?? current.clientSecret,
        roles: roles ?? current.roles,
        tenant: input.tenant ?? current.tenant,
        updatedAt: new Date(updated).toISOString(),
      };
      await parameters.put(credentialsParameterName(config.names, clientId), JSON.stringify(next));
      log.info("credentials replaced", { clientId, secretChanged: input.client_secret !== undefined, roles: next.roles, tenant: next.tenant });
      await tell(InternalDetailType.credentialsChanged, clientId, "the credentials were replaced");
      return metadata(next);
    },

    async list({ limit = adminApi.defaultPageSize, nextToken } = {}) {
      if (!Number.isInteger(limit) || limit < 1 || limit > adminApi.maxPageSize) {
        throw new AdminError(400, "INVALID_REQUEST", "the query is invalid", { limit: `must be a whole number from 1 to ${adminApi.maxPageSize}` });
      }
      const page = await parameters.getPage(credentialsParameterPath(config.names), { limit, nextToken }).catch((error: Error) => {
        if (error.name === "ValidationException" || error.name === "InvalidNextToken") {
          throw new AdminError(400, "INVALID_REQUEST", "the query is invalid", { nextToken: "not a token this API gave out" });
        }
        throw error;
      });
      const credentials = page.items.flatMap(({ name, value }) => {
        const parsed = Credentials.safeParse(safeJson(value));
        if (parsed.success) return [parsed.data];
        log.error("stored credentials are unreadable", { parameterName: name });
        return [];
      });
      const tokens = await parameters.getMany(credentials.map((c) => tokenParameterName(config.names, c.clientId)));
      return {
        items: credentials.map((c) => ({ ...metadata(c), token: tokenStatus(tokens.get(tokenParameterName(config.names, c.clientId))) })),
        ...(page.nextToken ? { nextToken: page.nextToken } : {}),
      };
    },

    async show(clientId) {
      checkClientId(clientId);
      const credentials = await readCredentials(clientId);
      if (!credentials) throw new AdminError(404, "NOT_FOUND", `no credentials for client ${clientId}`);
      return { ...metadata(credentials), token: tokenStatus(await parameters.get(tokenParameterName(config.names, clientId))) };
    },

    async remove(clientId) {
      checkClientId(clientId);
      const removed = await parameters.delete(credentialsParameterName(config.names, clientId));
      // A retry after a failed hand-off finds the credentials gone but the token still there.
      const tokenLeft = !removed && (await parameters.get(tokenParameterName(config.names, clientId))) !== undefined;
      if (!removed && !tokenLeft) throw new AdminError(404, "NOT_FOUND", `no credentials for client ${clientId}`);
      log.info("credentials removed", { clientId });
      await tell(InternalDetailType.credentialsDeleted, clientId, "the credentials were removed");
    },
  };
}

function metadata({ clientId, tenant, roles, createdAt, updatedAt }: Credentials): CredentialsMetadata {
  return { clientId, tenant, roles, createdAt, updatedAt };
}
