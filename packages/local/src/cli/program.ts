// The command tree and how a run ends: every outcome becomes one exit code of ExitCode.
import { Command, CommanderError } from "commander";
import { awsError } from "./aws.js";
import { registerCredentials } from "./commands/credentials.js";
import { registerEvents } from "./commands/events.js";
import { registerToken } from "./commands/token.js";
import { CliEnv, globalOptions } from "./config.js";
import { CliError, EXIT_CODE_HELP, ExitCode, type ExitCodeValue } from "./errors.js";

export function buildProgram(env: NodeJS.ProcessEnv = process.env): Command {
  const program = new Command("newstore-auth")
    .description("Operate newstore-auth: manage NewStore API credentials, get tokens through the broker, watch its events.")
    // Settings first: subcommands copy them when they are created.
    .exitOverride()
    .configureOutput({ outputError: (message, write) => write(redactOptionValues(message)) })
    .showHelpAfterError("(add --help for usage)")
    .showSuggestionAfterError(true);
  for (const option of globalOptions(env)) program.addOption(option);
  program.addHelpText(
    "after",
    `
Environment:
  ${CliEnv.stage}, ${CliEnv.apiUrl}, ${CliEnv.apiKey},
  ${CliEnv.parameterPrefix} and ${CliEnv.busName} set the options above;
  ${CliEnv.adminPort} makes the default API URL (the local runtime's port).
  token get and events tail use the standard AWS settings (AWS_REGION, AWS_ENDPOINT_URL,
  AWS_PROFILE, …). NEWSTORE_AUTH_DEBUG=1 prints stack traces of unexpected errors.

${EXIT_CODE_HELP}

Examples:
  $ export NEWSTORE_AUTH_API_KEY=…                 # safer than --api-key
  $ newstore-auth credentials add orders-sync --role iam:providers:read < secret.txt
  $ newstore-auth credentials list
  $ newstore-auth token get orders-sync
  $ newstore-auth events tail --client orders-sync
  $ newstore-auth --stage prod --api-url https://abc.execute-api.eu-west-1.amazonaws.com/prod \\
      credentials list --json`,
  );
  registerCredentials(program);
  registerToken(program);
  registerEvents(program);
  return program;
}

/** Runs the CLI on argv (as process.argv) and returns the exit code; prints errors to stderr. */
export async function runCli(argv: string[], stderr: NodeJS.WritableStream = process.stderr): Promise<ExitCodeValue> {
  try {
    await buildProgram().parseAsync(argv);
    return ExitCode.ok;
  } catch (error) {
    return report(error, stderr);
  }
}

function report(error: unknown, stderr: NodeJS.WritableStream): ExitCodeValue {
  if (error instanceof CommanderError) {
    // commander has printed the message (or the help) already.
    return error.code === "commander.helpDisplayed" || error.code === "commander.version" ? ExitCode.ok : ExitCode.usage;
  }
  const known = awsError(error);
  if (known instanceof CliError) {
    stderr.write(`error: ${known.message}\n${known.details.map((line) => `  ${line}\n`).join("")}`);
    return known.exitCode;
  }
  const err = known instanceof Error ? known : new Error(String(known));
  stderr.write(`error: ${err.name === "Error" ? "" : `${err.name}: `}${err.message}\n`);
  if (process.env.NEWSTORE_AUTH_DEBUG === "1" && err.stack) stderr.write(`${err.stack}\n`);
  return ExitCode.unexpected;
}

/** `--client-secret=hunter2` must not come back in "unknown option '--client-secret=hunter2'". */
function redactOptionValues(message: string): string {
  return message.replace(/'(--?[^\s'=]+)=[^']*'/g, "'$1=…'");
}
