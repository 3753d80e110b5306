// What every command's action starts from: the resolved global options and the output.
import { type Command, InvalidArgumentError } from "commander";
import { ClientId } from "@newstore-auth/core/schemas";
import { configFrom, type CliConfig, type GlobalOptions } from "./config.js";
import { usageError } from "./errors.js";
import { readSession } from "../start/session.js";
import { createOutput, type Output } from "./output.js";

export interface Context {
  config: CliConfig;
  out: Output;
}

export function contextOf(command: Command): Context {
  const options = command.optsWithGlobals<GlobalOptions>();
  joinLocalSession(command, options);
  const config = configFrom(options);
  return { config, out: createOutput(config.json) };
}

/**
 * A running `npm start` of this stage left its endpoints and generated key in its session file:
 * what the operator did not set comes from there, so the banner's commands work as printed.
 */
function joinLocalSession(command: Command, options: GlobalOptions) {
  const session = readSession(options.stage);
  if (!session) return;
  if (command.getOptionValueSourceWithGlobals("apiUrl") === "default") options.apiUrl = session.apiUrl;
  if (!options.apiKey && options.apiUrl.replace(/\/+$/, "") === session.apiUrl) options.apiKey = session.apiKey;
  if (!process.env.AWS_ENDPOINT_URL) {
    process.env.AWS_ENDPOINT_URL = session.awsEndpoint;
    process.env.AWS_REGION ??= session.region;
    process.env.AWS_ACCESS_KEY_ID ??= "local";
    process.env.AWS_SECRET_ACCESS_KEY ??= "local";
  }
}

/** Checked here so that a bad id fails before a secret is asked for or AWS is called. */
export function checkClientId(clientId: string): string {
  if (!ClientId.safeParse(clientId).success) throw usageError("the client id must be 1-128 of A-Z a-z 0-9 _ . -");
  return clientId;
}

export function wholeNumber(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      // commander reports it as a usage error that names the option.
      throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}`);
    }
    return n;
  };
}
