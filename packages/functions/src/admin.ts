// The admin API Lambda: API Gateway (REST, proxy) in, JSON out. Only HTTP concerns live here —
// routing, the key, body limits — the operations are core's.
import { createHash, timingSafeEqual } from "node:crypto";
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from "aws-lambda";
import { type Admin, AdminError } from "@newstore-auth/core/admin";
import type { Logger as LogPort } from "@newstore-auth/core/ports";
import { type AdminSettings, adminSettingsFromEnv, type AwsClientOptions, createAdminFromSettings } from "@newstore-auth/core/runtime";
import { adminApi } from "@newstore-auth/core/settings";
import { powertoolsLogger } from "./logger.js";

export interface AdminHandlerOptions {
  env?: Record<string, string | undefined>;
  log?: LogPort;
  aws?: AwsClientOptions;
}

export type AdminHandler = (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;

const CREDENTIALS = /^\/credentials\/?$/;
const ONE = /^\/credentials\/([^/]+)\/?$/;

export function createAdminHandler({ env = process.env, log, aws }: AdminHandlerOptions = {}): AdminHandler {
  let wired: { settings: AdminSettings; admin: Admin; log: LogPort } | undefined;
  return async (event) => {
    const path = event.path ?? "/";
    const method = event.httpMethod?.toUpperCase() ?? "GET";
    if (path === "/health") return method === "GET" ? reply(200, { status: "ok" }) : methodNotAllowed();
    try {
      wired ??= (() => {
        const settings = adminSettingsFromEnv(env);
        const logger = log ?? powertoolsLogger("newstore-auth-admin");
        return { settings, admin: createAdminFromSettings(settings, logger, aws), log: logger };
      })();
      checkKey(wired.settings.apiKey, header(event, "x-api-key"));
      return await route(wired.admin, method, path, event);
    } catch (error) {
      if (error instanceof AdminError) return errorReply(error);
      (wired?.log ?? log ?? console).error("admin request failed", { method, path, error: (error as Error).name });
      return errorReply(new AdminError(500, "INTERNAL", "internal error; nothing was changed unless the message says so"));
    }
  };
}

async function route(admin: Admin, method: string, path: string, event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  if (CREDENTIALS.test(path)) {
    if (method === "GET") {
      const query = event.queryStringParameters ?? {};
      const limit = query.limit === undefined ? undefined : Number(query.limit);
      return reply(200, await admin.list({ limit, nextToken: query.nextToken || undefined }));
    }
    if (method === "POST") return reply(201, await admin.create(jsonBody(event)));
    return methodNotAllowed();
  }
  const one = ONE.exec(path);
  if (one) {
    const clientId = decodePart(one[1]!);
    if (method === "GET") return reply(200, await admin.show(clientId));
    if (method === "PUT") return reply(200, await admin.replace(clientId, jsonBody(event)));
    if (method === "DELETE") {
      await admin.remove(clientId);
      return { statusCode: 204, headers: { "cache-control": "no-store" }, body: "" };
    }
    return methodNotAllowed();
  }
  throw new AdminError(404, "NOT_FOUND", `no route ${method} ${path.slice(0, 100)}`);
}

/** Constant-time comparison of digests, so neither content nor length leaks through timing. */
function checkKey(expected: string | undefined, given: string | undefined) {
  if (expected === undefined) return; // API Gateway checks the key on AWS
  const digest = (text: string) => createHash("sha256").update(text).digest();
  if (given === undefined || !timingSafeEqual(digest(expected), digest(given))) {
    throw new AdminError(403, "FORBIDDEN", "a valid x-api-key header is required");
  }
}

function jsonBody(event: APIGatewayProxyEvent): unknown {
  const raw = event.body ?? "";
  const bytes = event.isBase64Encoded ? Buffer.from(raw, "base64") : Buffer.from(raw, "utf8");
  if (bytes.length > adminApi.maxBodyBytes) {
    throw new AdminError(413, "PAYLOAD_TOO_LARGE", `the body is over ${adminApi.maxBodyBytes / 1024} KB`);
  }
  const type = header(event, "content-type");
  if (type !== undefined && !/^application\/json\b/i.test(type)) {
    throw new AdminError(415, "UNSUPPORTED_MEDIA_TYPE", "send the body as application/json");
  }
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new AdminError(415, "UNSUPPORTED_MEDIA_TYPE", "the body is not JSON");
  }
}

function header(event: APIGatewayProxyEvent, name: string): string | undefined {
  for (const [key, value] of Object.entries(event.headers ?? {})) if (key.toLowerCase() === name && value !== undefined) return value;
  return undefined;
}

function decodePart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new AdminError(400, "INVALID_REQUEST", "the client id is invalid", { clientId: "not a valid URL path segment" });
  }
}

const methodNotAllowed = () => errorReply(new AdminError(405, "METHOD_NOT_ALLOWED", "method not allowed on this path"));

function errorReply(error: AdminError): APIGatewayProxyResult {
  return reply(error.status, { error: { code: error.code, message: error.message, ...(error.fields ? { fields: error.fields } : {}) } });
}

function reply(statusCode: number, body: unknown): APIGatewayProxyResult {
  return { statusCode, headers: { "content-type": "application/json", "cache-control": "no-store" }, body: JSON.stringify(body) };
}

export const handler = createAdminHandler();
