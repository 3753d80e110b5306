// Launches the moto server (SSM, SQS, EventBridge emulator) on a free loopback port.
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";

export interface MotoServer {
  endpoint: string;
  port: number;
  /** PID of the moto server process itself (spawned without a shell). */
  pid: number;
  /** Wipes every resource (POST /moto-api/reset). */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export const MOTO_INSTALL_HINT = "moto server is not installed for python3: run pip install 'moto[server]'";

// moto re-parses the JSONPath of every event pattern for each event it routes; caching the parse
// makes EventBridge -> SQS delivery ~14x cheaper (see DESIGN, "Running without AWS").
const LAUNCHER = [
  "import functools, sys",
  "import jsonpath_ng.ext as j",
  "j.parse = functools.lru_cache(maxsize=None)(j.parse)",
  "from moto.server import main",
  "main(['-H', sys.argv[1], '-p', sys.argv[2]])",
].join("\n");

export async function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function startMoto({
  port,
  host = "127.0.0.1",
  python = "python3",
  readyTimeoutMs = 30_000,
}: { port?: number; host?: string; python?: string; readyTimeoutMs?: number } = {}): Promise<MotoServer> {
  const chosen = port ?? (await freePort(host));
  const child = spawn(python, ["-c", LAUNCHER, host, String(chosen)], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString("utf8")).slice(-4000);
  });
  const exited = new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.once("exit", (code) => resolve({ code }));
    child.once("error", (error) => resolve({ code: null, error }));
  });
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);

  const endpoint = `http://${host}:${chosen}`;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    const early = await Promise.race([exited, new Promise<undefined>((r) => setTimeout(r, 100, undefined))]);
    if (early) {
      process.removeListener("exit", killOnExit);
      if (early.error) throw new Error(`cannot run ${python} (${early.error.message}); ${MOTO_INSTALL_HINT}`);
      if (/No module named '?(moto|jsonpath_ng|flask|werkzeug)/.test(stderr)) throw new Error(MOTO_INSTALL_HINT);
      throw new Error(`moto server exited with code ${early.code} before answering on ${endpoint}: ${lastLine(stderr)}`);
    }
    if (await answers(endpoint)) break;
    if (Date.now() > deadline) {
      await stopChild(child, exited);
      process.removeListener("exit", killOnExit);
      throw new Error(`moto server did not answer on ${endpoint} within ${readyTimeoutMs} ms: ${lastLine(stderr)}`);
    }
  }

  return {
    endpoint,
    port: chosen,
    pid: child.pid!,
    async reset() {
      const response = await fetch(`${endpoint}/moto-api/reset`, { method: "POST" });
      if (!response.ok) throw new Error(`moto reset answered ${response.status}`);
    },
    async stop() {
      await stopChild(child, exited);
      process.removeListener("exit", killOnExit);
    },
  };
}

async function answers(endpoint: string): Promise<boolean> {
  try {
    const response = await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(1000) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

async function stopChild(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

function lastLine(text: string): string {
  return text.trim().split("\n").pop() ?? "";
}
