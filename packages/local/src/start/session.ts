// A running `npm start` leaves its endpoints (and the generated API key) in a file only this
// user can read, so `npm run demo` and the CLI find it without copying values around.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isAlive } from "../processes.js";

export interface Session {
  pid: number;
  stage: string;
  apiUrl: string;
  apiKey: string;
  awsEndpoint: string;
  region: string;
  /** Base URL of the built-in NewStore sandbox, when it runs. */
  sandboxUrl?: string;
  motoPid?: number;
}

const dir = () => join(tmpdir(), `newstore-auth-${process.getuid?.() ?? "user"}`);
export const sessionFile = (stage: string) => join(dir(), `${stage}.json`);

export function writeSession(session: Session): string {
  mkdirSync(dir(), { recursive: true, mode: 0o700 });
  const file = sessionFile(session.stage);
  writeFileSync(file, JSON.stringify(session, null, 2), { mode: 0o600 });
  return file;
}

/** The session of a runtime that is still alive, if any. */
export function readSession(stage: string): Session | undefined {
  try {
    const session = JSON.parse(readFileSync(sessionFile(stage), "utf8")) as Session;
    return isAlive(session.pid) ? session : undefined;
  } catch {
    return undefined;
  }
}

export function removeSession(stage: string, pid = process.pid): void {
  try {
    const session = JSON.parse(readFileSync(sessionFile(stage), "utf8")) as Session;
    if (session.pid === pid) rmSync(sessionFile(stage), { force: true });
  } catch {
    // nothing to remove
  }
}
