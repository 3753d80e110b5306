import { ConsumerEnv } from "@newstore-auth/core/settings";
import { createTokenClient, type TokenClient, type TokenClientOptions } from "./client.js";

/**
 * The client configured by the environment the TokenConsumer construct sets. Create it in module
 * scope: it holds connections, and a token only while the token is valid.
 */
export function createTokenClientFromEnv(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<TokenClientOptions> = {},
): TokenClient {
  const keys = Object.keys(ConsumerEnv) as Array<keyof typeof ConsumerEnv>;
  const settings = Object.fromEntries(keys.map((key) => [key, overrides[key] ?? env[ConsumerEnv[key]]]));
  const missing = keys.filter((key) => !settings[key]).map((key) => ConsumerEnv[key]);
  if (missing.length > 0) {
    throw new Error(`newstore-auth client: ${missing.join(", ")} not set (the TokenConsumer construct sets them)`);
  }
  return createTokenClient({ ...overrides, ...(settings as Pick<TokenClientOptions, (typeof keys)[number]>) });
}
