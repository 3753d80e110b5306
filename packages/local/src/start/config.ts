// The local runtime's settings, read from the environment DESIGN fixes for it.
import { randomBytes } from "node:crypto";
import { LocalEnv, localDefaults, namesFor, type Names } from "@newstore-auth/core/settings";

export interface RuntimeConfig {
  /** An AWS endpoint to use; unset: launch moto. */
  endpoint?: string;
  region: string;
  /** A NewStore token endpoint (`{tenant}` replaced); unset: start the sandbox. */
  tokenUrl?: string;
  names: Names;
  adminPort: number;
  apiKey: string;
  apiKeyGenerated: boolean;
}

export class ConfigError extends Error {}

export function runtimeConfig(env: Record<string, string | undefined>): RuntimeConfig {
  const stage = env[LocalEnv.stage] || localDefaults.stage;
  let names: Names;
  try {
    names = namesFor(stage);
  } catch (error) {
    throw new ConfigError(`${LocalEnv.stage}: ${(error as Error).message}`);
  }
  const portText = env[LocalEnv.adminPort] || String(localDefaults.adminPort);
  const adminPort = Number(portText);
  if (!Number.isInteger(adminPort) || adminPort < 0 || adminPort > 65535) {
    throw new ConfigError(`${LocalEnv.adminPort} must be a port number (0-65535), got ${JSON.stringify(portText)}`);
  }
  for (const key of [LocalEnv.endpoint, LocalEnv.tokenUrl] as const) {
    const value = env[key];
    if (value && !/^https?:\/\/[^\s]+$/.test(value)) throw new ConfigError(`${key} must be an http(s) URL, got ${JSON.stringify(value)}`);
  }
  const apiKey = env[LocalEnv.apiKey];
  return {
    endpoint: env[LocalEnv.endpoint] || undefined,
    region: env[LocalEnv.region] || localDefaults.region,
    tokenUrl: env[LocalEnv.tokenUrl] || undefined,
    names,
    adminPort,
    apiKey: apiKey || randomBytes(18).toString("base64url"),
    apiKeyGenerated: !apiKey,
  };
}
