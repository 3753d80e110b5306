// Client secrets come from stdin or a prompt with echo off, never from argv: argv is visible to
// every user through ps and lands in shell history.
import { createInterface } from "node:readline";
import { Writable } from "node:stream";
import { CliError, ExitCode, usageError } from "./errors.js";

export interface SecretSource {
  stdin?: NodeJS.ReadStream;
  /** Where the prompt goes: stderr, so that stdout stays one JSON document with --json. */
  prompt?: NodeJS.WriteStream;
}

/**
 * Piped input: the whole of stdin, one trailing newline stripped (`echo` adds one). A terminal:
 * asked twice with echo off, since a typo cannot be seen.
 */
export async function readSecret(label: string, { stdin = process.stdin, prompt = process.stderr }: SecretSource = {}): Promise<string> {
  if (!stdin.isTTY) {
    const secret = (await readAll(stdin)).replace(/\r?\n$/, "");
    if (secret === "") throw usageError(`no ${label} on stdin (pipe it in, e.g. from a secrets manager)`);
    return secret;
  }
  const first = await ask(`${label}: `, stdin, prompt);
  if (first === "") throw usageError(`the ${label} must not be empty`);
  const second = await ask(`${label} again: `, stdin, prompt);
  if (first !== second) throw usageError("the two entries differ; nothing was sent");
  return first;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString("utf8");
}

function ask(question: string, input: NodeJS.ReadStream, output: NodeJS.WriteStream): Promise<string> {
  // readline echoes keystrokes through its output: give it one that swallows them.
  const muted = new Writable({ write: (_chunk, _encoding, done) => done() });
  const rl = createInterface({ input, output: muted, terminal: true });
  output.write(question);
  return new Promise((resolve, reject) => {
    let answered = false;
    rl.on("SIGINT", () => {
      rl.close();
    });
    rl.on("close", () => {
      output.write("\n");
      if (!answered) reject(new CliError(ExitCode.usage, "cancelled; nothing was sent"));
    });
    rl.question("", (answer) => {
      answered = true;
      resolve(answer);
      rl.close();
    });
  });
}
