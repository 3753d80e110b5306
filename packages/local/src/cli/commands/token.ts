// token get: a token fetched exactly as a consumer does (the SDK, the CLI's own requester and
// reply queue), so it also proves the broker's path end to end.
import type { Command } from "commander";
import { createTokenClient, TokenRequestFailedError, TokenTimeoutError } from "@newstore-auth/client";
import { CLI_REQUESTER, consumerDefaults } from "@newstore-auth/core/settings";
import { awsClients, awsError, queueUrl } from "../aws.js";
import { checkClientId, contextOf, wholeNumber } from "../context.js";
import { CliError, ExitCode } from "../errors.js";
import { fields } from "../output.js";

interface TokenGetOptions {
  showToken?: boolean;
  minValidity: number;
  timeout: number;
}

export function registerToken(program: Command): void {
  const token = program
    .command("token")
    .description("get tokens through the broker, as a consumer does")
    .addHelpText("after", `\nExample:\n  $ newstore-auth token get orders-sync`);

  token
    .command("get")
    .description("get a client's token through the broker and print its metadata (the token itself only with --show-token)")
    .argument("<clientId>", "the NewStore API client id")
    .option("--show-token", "print the access token too (it grants NewStore access: mind where output goes)")
    .option(
      "--min-validity <seconds>",
      "the token must stay valid this long; a fresher one is requested otherwise",
      wholeNumber("--min-validity", 0, 86_400),
      consumerDefaults.minValiditySeconds,
    )
    .option("--timeout <ms>", "how long to wait for the broker", wholeNumber("--timeout", 1, 300_000), consumerDefaults.timeoutMs)
    .addHelpText(
      "after",
      `
Needs AWS credentials that may read tokens/{clientId} in SSM, put events on the bus and
receive from the CLI's reply queue (newstore-auth-{stage}-cli-replies, deployed with the stack).

Examples:
  $ newstore-auth token get orders-sync
  $ newstore-auth --stage prod token get orders-sync --min-validity 1800 --json
  $ curl -H "authorization: Bearer $(newstore-auth token get orders-sync --show-token --json | jq -r .accessToken)" …`,
    )
    .action(async (clientId: string, options: TokenGetOptions, command: Command) => {
      const { config, out } = contextOf(command);
      checkClientId(clientId);
      const aws = awsClients();
      try {
        const { names } = config;
        const client = createTokenClient({
          requester: CLI_REQUESTER,
          busName: names.busName,
          replyQueueUrl: await queueUrl(aws.sqs, names.cliReplyQueueName, names.stage),
          parameterPrefix: names.parameterPrefix,
          minValiditySeconds: options.minValidity,
          timeoutMs: options.timeout,
          clients: aws,
        });
        const t = await client.getToken(clientId);
        const secondsLeft = Math.floor((Date.parse(t.expiresAt) - Date.now()) / 1000);
        const metadata = {
          clientId: t.clientId,
          parameterName: t.parameterName,
          parameterVersion: t.parameterVersion,
          issuedAt: t.issuedAt,
          expiresAt: t.expiresAt,
          secondsLeft,
          scope: t.scope,
          tokenType: t.tokenType,
        };
        out.result(options.showToken ? { ...metadata, accessToken: t.accessToken } : metadata, () =>
          fields([
            ["clientId", t.clientId],
            ["parameterName", t.parameterName],
            ["version", t.parameterVersion],
            ["issuedAt", t.issuedAt],
            ["expiresAt", `${t.expiresAt} (${secondsLeft} s left)`],
            ["scope", t.scope],
            ["tokenType", t.tokenType],
            ["accessToken", options.showToken ? t.accessToken : "(hidden; --show-token prints it)"],
          ]),
        );
      } catch (error) {
        throw tokenError(error);
      } finally {
        aws.destroy();
      }
    });
}

function tokenError(error: unknown): unknown {
  if (error instanceof TokenRequestFailedError) {
    return new CliError(
      ExitCode.tokenFailed,
      `the broker answered token.failed: ${error.code} (retryable: ${error.retryable}): ${error.message}`,
      [`requestId: ${error.requestId}`],
    );
  }
  if (error instanceof TokenTimeoutError) {
    return new CliError(ExitCode.unreachable, `${error.message}: is the broker running? (--timeout waits longer)`);
  }
  return awsError(error);
}
