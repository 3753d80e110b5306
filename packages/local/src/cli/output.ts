// What commands print: human text by default, exactly one JSON document with --json. Errors go
// to stderr (see main.ts), so stdout can be piped into jq.

export interface Output {
  readonly json: boolean;
  /** One JSON document (--json) or the given lines of text. */
  result(document: unknown, human: () => string | string[]): void;
  /** Progress and notices for a person; stderr, so they never mix into a JSON stdout. */
  note(line: string): void;
  /** One line of a stream (events tail). */
  line(text: string): void;
}

export function createOutput(json: boolean, stdout: NodeJS.WritableStream = process.stdout, stderr: NodeJS.WritableStream = process.stderr): Output {
  return {
    json,
    result(document, human) {
      if (json) stdout.write(`${JSON.stringify(document, null, 2)}\n`);
      else {
        const text = human();
        stdout.write(`${Array.isArray(text) ? text.join("\n") : text}\n`);
      }
    },
    note(line) {
      stderr.write(`${line}\n`);
    },
    line(text) {
      stdout.write(`${text}\n`);
    },
  };
}

/** Columns padded to their widest cell; the last column is not padded. */
export function table(headers: string[], rows: string[][]): string[] {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? "").length)));
  const format = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [format(headers), ...rows.map(format)];
}

/** `key: value` lines with the values aligned; undefined values are left out. */
export function fields(entries: Array<[string, string | number | boolean | undefined]>): string[] {
  const shown = entries.filter((entry): entry is [string, string | number | boolean] => entry[1] !== undefined);
  const width = Math.max(0, ...shown.map(([key]) => key.length));
  return shown.map(([key, value]) => `${`${key}:`.padEnd(width + 2)}${value}`);
}
