// Global options and where they come from: argv first, then the environment, then the defaults
// of the local runtime (`npm start`), so that a bare `newstore-auth` talks to it.
import { Option } from "commander";
import { AdminEnv, Env, LocalEnv, localDefaults, namesFor, type Names } from "@newstore-auth/core/settings";
import { usageError } from "./errors.js";

/** Environment variables the CLI reads besides the standard AWS ones (AWS_REGION, AWS_PROFILE, …). */
export const CliEnv = {
  stage: Env.stage,
  apiUrl: AdminEnv.apiUrl,
  apiKey: AdminEnv.apiKey,
  parameterPrefix: Env.parameterPrefix,
  busName: Env.busName,
  /** The local runtime's admin port; it makes the default API URL. */
  adminPort: LocalEnv.adminPort,
} as const;

export interface GlobalOptions {
  stage: string;
  apiUrl: string;
  apiKey?: string;
  json?: boolean;
  parameterPrefix?: string;
  busName?: string;
}

export interface CliConfig {
  names: Names;
  apiUrl: string;
  apiKey?: string;
  json: boolean;
}

export function globalOptions(env: NodeJS.ProcessEnv = process.env): Option[] {
  return [
    new Option("--stage <stage>", "stage in every name").env(CliEnv.stage).default(localDefaults.stage),
    new Option("--api-url <url>", "base URL of the admin API")
      .env(CliEnv.apiUrl)
      .default(`http://127.0.0.1:${env[CliEnv.adminPort] || localDefaults.adminPort}`),
    new Option("--api-key <key>", `admin API key; prefer ${CliEnv.apiKey}: argv is visible to every user in ps`).env(CliEnv.apiKey),
    new Option("--json", "machine output: one JSON document on stdout (events tail: one per line)"),
    new Option("--parameter-prefix <prefix>", "SSM prefix (default /newstore-auth/{stage})").env(CliEnv.parameterPrefix),
    new Option("--bus-name <name>", "the broker's event bus (default newstore-auth-{stage})").env(CliEnv.busName),
  ];
}

export function configFrom(options: GlobalOptions): CliConfig {
  let names: Names;
  try {
    names = namesFor(options.stage, { parameterPrefix: options.parameterPrefix || undefined, busName: options.busName || undefined });
  } catch (error) {
    throw usageError((error as Error).message);
  }
  let apiUrl: URL;
  try {
    apiUrl = new URL(options.apiUrl);
  } catch {
    throw usageError(`--api-url is not a URL: ${JSON.stringify(options.apiUrl)}`);
  }
  if (apiUrl.protocol !== "http:" && apiUrl.protocol !== "https:") throw usageError("--api-url must be an http(s) URL");
  return { names, apiUrl: apiUrl.href.replace(/\/+$/, ""), apiKey: options.apiKey || undefined, json: options.json === true };
}
