// `npm start`: runs the runtime until SIGINT/SIGTERM, then stops everything it started, exit 0.
import { localDefaults } from "@newstore-auth/core/settings";
import { consoleLogger } from "./console-log.js";
import { ConfigError, runtimeConfig } from "./config.js";
import { type Runtime, StartupError, startRuntime } from "./runtime.js";
import { sessionFile } from "./session.js";

const write = (line: string) => process.stdout.write(`${line}\n`);
const fail = (message: string): never => {
  process.stderr.write(`newstore-auth: ${message}\n`);
  process.exit(1);
};

let runtime: Runtime | undefined;
let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  write(`\n${signal}: stopping (the batch in hand is finished first)…`);
  await runtime?.stop();
  write("stopped.");
  process.exit(0);
}
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));

try {
  const config = runtimeConfig(process.env);
  const level = (process.env.NEWSTORE_AUTH_LOG_LEVEL ?? "warn") as "debug" | "info" | "warn" | "error";
  const log = consoleLogger(["debug", "info", "warn", "error"].includes(level) ? level : "warn", write);
  write("newstore-auth: starting the broker locally…");
  runtime = await startRuntime(config, { write, log, env: process.env });
  if (stopping) await new Promise(() => {}); // a signal came during startup: shutdown() exits
  const s = runtime.session;
  const cli = "npx newstore-auth";
  const demo = localDefaults.demoClient;
  write(
    [
      "",
      `newstore-auth is running (stage ${s.stage}).`,
      "",
      `  admin API      ${s.apiUrl}    (GET /health needs no key)`,
      `  API key        ${s.apiKey}${config.apiKeyGenerated ? "    (generated; set NEWSTORE_AUTH_API_KEY to choose one)" : ""}`,
      `  AWS endpoint   ${s.awsEndpoint}${s.motoPid ? `    (moto, pid ${s.motoPid})` : ""}`,
      `  NewStore       ${s.sandboxUrl ? `${s.sandboxUrl}    (sandbox; demo client ${demo.clientId}, secret ${demo.clientSecret})` : config.tokenUrl}`,
      `  resources      ${runtime.created.length ? `created ${runtime.created.length}: ${runtime.created.join(", ")}` : "all existed already; reused"}`,
      `  session        ${sessionFile(s.stage)}    (the CLI and npm run demo read it)`,
      "",
      "Try, in another terminal:",
      `  printf ${demo.clientSecret} | ${cli} credentials add ${demo.clientId} --role ${demo.roles[0]}`,
      `  ${cli} token get ${demo.clientId}`,
      `  ${cli} events tail`,
      "",
      "Broker events (Ctrl-C stops everything):",
    ].join("\n"),
  );
} catch (error) {
  if (error instanceof ConfigError || error instanceof StartupError) fail(error.message);
  fail(`could not start: ${(error as Error).message}`);
}
