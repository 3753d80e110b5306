// events tail: a live view of what the broker publishes, through a queue and rule of its own
// that exist only while it runs.
import { randomBytes } from "node:crypto";
import { DeleteMessageBatchCommand, type Message, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import type { Command } from "commander";
import { safeJson } from "@newstore-auth/core/messages";
import { EventEnvelope } from "@newstore-auth/core/schemas";
import { brokerEventsPattern, type Names } from "@newstore-auth/core/settings";
import { provisionTemporaryTail, removeTemporaryTail, type TemporaryTail } from "../../provision.js";
import { awsClients, awsError } from "../aws.js";
import { checkClientId, contextOf, wholeNumber } from "../context.js";
import { CliError, ExitCode } from "../errors.js";
import type { Output } from "../output.js";
import { describeEvent, eventJson } from "../event-format.js";

interface TailOptions {
  client?: string;
  max?: number;
  duration?: number;
}

const POLL_SECONDS = 10;

export function registerEvents(program: Command): void {
  const events = program
    .command("events")
    .description("watch the broker's events")
    .addHelpText("after", `\nExample:\n  $ newstore-auth events tail`);

  events
    .command("tail")
    .description("print the broker's events as they happen (token.ready, token.failed, token.rotated, token.revoked)")
    .option("--client <clientId>", "only this client's events")
    .option("--max <n>", "stop after this many events", wholeNumber("--max", 1, 1_000_000))
    .option("--duration <seconds>", "stop after listening this long", wholeNumber("--duration", 1, 7 * 24 * 3600))
    .addHelpText(
      "after",
      `
It creates a temporary queue and rule named {bus}-tail-{random} and removes both when it stops
(Ctrl-C, SIGTERM, --max or --duration; exit 0). Events carry no secret and no token. Needs AWS
credentials that may create and delete SQS queues and EventBridge rules.

Examples:
  $ newstore-auth events tail
  $ newstore-auth events tail --client orders-sync --max 10
  $ newstore-auth events tail --json --duration 60 | jq -c 'select(.detailType == "token.failed")'`,
    )
    .action(async (options: TailOptions, command: Command) => {
      const { config, out } = contextOf(command);
      if (options.client !== undefined) checkClientId(options.client);
      await tail(config.names, options, out);
    });
}

async function tail(names: Names, options: TailOptions, out: Output): Promise<void> {
  const aws = awsClients();
  const resources: TemporaryTail = { busName: names.busName, name: tailName(names.busName) };
  const stop = new AbortController();
  let cleaning = false;
  const onSignal = () => {
    if (!cleaning) return stop.abort();
    // A second signal while removing: the person wants out; say what is left.
    out.note(`error: interrupted; left behind: ${leftovers(resources)}`);
    process.exit(ExitCode.unexpected);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  // `tail | head` closes the pipe: stop as if asked, so the resources are still removed.
  const onPipeError = (error: NodeJS.ErrnoException) => (error.code === "EPIPE" ? stop.abort() : undefined);
  process.stdout.on("error", onPipeError);
  let timer: NodeJS.Timeout | undefined;
  let seen = 0;
  let listening = false;
  try {
    const pattern = options.client ? { ...brokerEventsPattern, detail: { clientId: [options.client] } } : brokerEventsPattern;
    const queue = await provisionTemporaryTail(aws, resources, pattern).catch((error: Error) => {
      if (error.name !== "ResourceNotFoundException") throw error;
      throw new CliError(
        ExitCode.unreachable,
        `bus ${names.busName} does not exist: deploy the broker stack for stage ${names.stage} (npx sst deploy --stage ${names.stage}) or start it locally (npm start)`,
      );
    });
    if (stop.signal.aborted) return;
    listening = true;
    out.note(`listening for broker events on bus ${names.busName}${options.client ? ` for client ${options.client}` : ""} (Ctrl-C stops)`);
    if (options.duration) timer = setTimeout(() => stop.abort(), options.duration * 1000);
    while (!stop.signal.aborted && (options.max === undefined || seen < options.max)) {
      let messages: Message[];
      try {
        const received = await aws.sqs.send(
          new ReceiveMessageCommand({ QueueUrl: queue.url, MaxNumberOfMessages: 10, WaitTimeSeconds: POLL_SECONDS }),
          { abortSignal: stop.signal },
        );
        messages = received.Messages ?? [];
      } catch (error) {
        if (stop.signal.aborted) break;
        throw error;
      }
      for (const message of messages) {
        if (options.max !== undefined && seen >= options.max) break;
        const envelope = EventEnvelope.safeParse(safeJson(message.Body ?? ""));
        if (!envelope.success) {
          out.note("warning: skipped a message that is not an EventBridge event");
          continue;
        }
        seen += 1;
        out.line(out.json ? JSON.stringify(eventJson(envelope.data)) : describeEvent(envelope.data));
      }
      if (messages.length > 0 && !stop.signal.aborted && (options.max === undefined || seen < options.max)) {
        // Unacknowledged messages would come back after the visibility timeout, printed twice.
        await aws.sqs
          .send(new DeleteMessageBatchCommand({ QueueUrl: queue.url, Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }))
          .catch(() => undefined);
      }
    }
  } catch (error) {
    throw awsError(error);
  } finally {
    cleaning = true;
    clearTimeout(timer);
    try {
      await removeTemporaryTail(aws, resources);
      if (listening) out.note(`stopped after ${seen} event${seen === 1 ? "" : "s"}; removed the temporary queue and rule`);
    } catch (error) {
      // A leftover must be reported, even over the error that ended the tail.
      throw new CliError(ExitCode.unexpected, (error as Error).message);
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      process.stdout.off("error", onPipeError);
      aws.destroy();
    }
  }
}

/** Bus names may hold `.` and `/`, queue names may not; rule names stop at 64 characters. */
function tailName(busName: string): string {
  return `${busName.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 40)}-tail-${randomBytes(4).toString("hex")}`;
}

function leftovers(resources: TemporaryTail): string {
  const left = [
    ...(resources.ruleCreated ? [`rule ${resources.name} on bus ${resources.busName}`] : []),
    ...(resources.queue ? [`queue ${resources.queue.url}`] : []),
  ];
  return left.length > 0 ? `${left.join(", ")}; remove by hand` : "nothing";
}
