// AWS for `token get` and `events tail`. Region, endpoint and credentials come from the standard
// AWS environment (AWS_REGION, AWS_ENDPOINT_URL, AWS_PROFILE, …): the SDK reads them itself.
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { GetQueueUrlCommand, SQSClient } from "@aws-sdk/client-sqs";
import { SSMClient } from "@aws-sdk/client-ssm";
import { CliError, ExitCode } from "./errors.js";

export interface CliAwsClients {
  sqs: SQSClient;
  events: EventBridgeClient;
  ssm: SSMClient;
  destroy(): void;
}

export function awsClients(): CliAwsClients {
  const sqs = new SQSClient({});
  const events = new EventBridgeClient({});
  const ssm = new SSMClient({});
  return {
    sqs,
    events,
    ssm,
    destroy() {
      sqs.destroy();
      events.destroy();
      ssm.destroy();
    },
  };
}

const NO_QUEUE = new Set(["QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"]);

/** The URL of a queue the broker stack deploys; its absence means the stack is not there. */
export async function queueUrl(sqs: SQSClient, name: string, stage: string): Promise<string> {
  try {
    return (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl!;
  } catch (error) {
    if (NO_QUEUE.has((error as Error).name)) {
      throw new CliError(
        ExitCode.unreachable,
        `queue ${name} does not exist: deploy the broker stack for stage ${stage} (npx sst deploy --stage ${stage}) or start it locally (npm start)`,
      );
    }
    throw error;
  }
}

const DENIED = new Set([
  "AccessDenied",
  "AccessDeniedException",
  "UnrecognizedClientException",
  "InvalidClientTokenId",
  "InvalidSignatureException",
  "SignatureDoesNotMatch",
  "ExpiredToken",
  "ExpiredTokenException",
  "CredentialsProviderError",
]);
const NETWORK = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ETIMEDOUT", "EPIPE"]);

/** Expected AWS failures as CLI errors; anything else stays as it is (exit 1). */
export function awsError(error: unknown): unknown {
  if (error instanceof CliError || !(error instanceof Error)) return error;
  const code = (error as Error & { code?: string }).code;
  if (DENIED.has(error.name)) return new CliError(ExitCode.forbidden, `AWS refused the credentials (${error.name}): ${error.message}`);
  if (error.name === "TimeoutError" || (code && NETWORK.has(code))) {
    const endpoint = process.env.AWS_ENDPOINT_URL ? ` at ${process.env.AWS_ENDPOINT_URL}` : "";
    return new CliError(ExitCode.unreachable, `could not reach AWS${endpoint} (${code ?? error.name})`);
  }
  if (/region is missing/i.test(error.message)) return new CliError(ExitCode.usage, "no AWS region: set AWS_REGION or a profile with a region");
  return error;
}
