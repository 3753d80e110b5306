// The runtime's own log: one readable line each, not Powertools' JSON, since a person reads it.
import type { LogAttributes, Logger } from "@newstore-auth/core/ports";
import { redact } from "@newstore-auth/core/redact";

const LEVELS = ["debug", "info", "warn", "error"] as const;
type Level = (typeof LEVELS)[number];

export function consoleLogger(minimum: Level, write: (line: string) => void): Logger {
  const at = LEVELS.indexOf(minimum);
  const line = (level: Level) => (message: string, attributes: LogAttributes = {}) => {
    if (LEVELS.indexOf(level) < at) return;
    const extra = Object.entries(redact(attributes))
      .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
      .join(" ");
    write(`${clock()}  ${level.padEnd(5)}  ${message}${extra ? `  ${extra}` : ""}`);
  };
  return { debug: line("debug"), info: line("info"), warn: line("warn"), error: line("error") };
}

export const clock = (at = new Date()) => at.toISOString().slice(11, 19);
