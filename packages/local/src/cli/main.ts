// Entry point of the `newstore-auth` bin: run, then exit with the code.
import { runCli } from "./program.js";

// `newstore-auth … | head` closes the pipe early: the reader's choice, not a crash. Commands
// that stream (events tail) watch for it themselves to stop.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code !== "EPIPE") throw error;
});

// The SDK's notice that it will need Node 22 is for whoever maintains the runtime, not for an
// operator reading one error line; setting the variable to anything else brings it back.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const code = await runCli(process.argv);
// Pipes may still hold output; an SDK socket or the token client's poll would keep us alive.
await Promise.all([process.stdout, process.stderr].map((stream) => new Promise<void>((resolve) => stream.write("", () => resolve()))));
process.exit(code);
