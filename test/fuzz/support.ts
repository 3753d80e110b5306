// Shared pieces of the fuzz suites: JSON text builders that keep "__proto__" an own key, the
// hostile strings and values the mutators draw from, and watchers for crashes and pollution.
import fc from "fast-check";

/** One seed for every suite, so a failure in CI replays exactly on a laptop. */
export const FUZZ_SEED = 0x7e57_2026;

/** The property a successful prototype-pollution payload would leave on Object.prototype. */
export const POLLUTION_KEY = "fuzzPolluted";

/** A JSON object's entries as written: key, and the value's JSON text. */
export type Entries = Array<readonly [string, string]>;

/**
 * JSON text of an object, entry by entry. Built as text, not with JSON.stringify of an object, so
 * `"__proto__"` arrives as an own key after JSON.parse (as it would from the wire) and a key may
 * appear twice (JSON.parse keeps the last).
 */
export const jsonObject = (entries: Entries) => `{${entries.map(([key, value]) => `${JSON.stringify(key)}:${value}`).join(",")}}`;

export const jsonString = (value: string) => JSON.stringify(value);

/** A string literal with the characters left raw where JSON allows (lone surrogates included). */
const rawJsonString = (value: string) => `"${value.replace(/[\\"\u0000-\u001f]/g, "")}"`;

export type Mutation =
  | { kind: "set"; key: string; value: string }
  | { kind: "delete"; key: string }
  | { kind: "append"; key: string; value: string };

/** Applies mutations in order: set replaces (or adds), delete removes, append adds a duplicate. */
export function mutate(entries: Entries, mutations: readonly Mutation[]): Entries {
  let out: Entries = [...entries];
  for (const m of mutations) {
    if (m.kind === "delete") out = out.filter(([key]) => key !== m.key);
    else if (m.kind === "append") out.push([m.key, m.value]);
    else {
      const at = out.findIndex(([key]) => key === m.key);
      if (at < 0) out.push([m.key, m.value]);
      else out[at] = [m.key, m.value];
    }
  }
  return out;
}

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code));

const SPECIAL_STRINGS = [
  "",
  " ",
  "\u0000",
  "abc\u0000def",
  "\t\n\r",
  "\u2028\u2029",
  "\u202Eevil\u202C", // right-to-left override
  "\u200F\u05E9\u05DC\u05D5\u05DD", // RTL mark + Hebrew
  "\u0645\u0631\u062D\u0628\u0627", // Arabic
  "\u200B",
  "\uFEFF",
  "\u{1F600}",
  "\u{1F469}\u200D\u{1F469}\u200D\u{1F467}",
  "e\u0301",
  "\uFFFD\uFFFF",
  "../../etc/passwd",
  "a/b",
  "%2F",
  "%00",
  "${jndi:ldap://x}",
  "<script>alert(1)</script>",
  "'; DROP TABLE x;--",
  "null",
  "undefined",
  "true",
  "0",
  "-1",
  "NaN",
  "__proto__",
  "constructor",
  "prototype",
  "\\",
  '"',
  "{}",
  "[]",
];

/** 16 KB to 300 KB: over the admin API's limit, around SQS's 256 KB message limit. */
export const hugeString = fc
  .tuple(fc.integer({ min: 16 * 1024, max: 300 * 1024 }), fc.constantFrom("a", "\u00E9", "\u{1F600}", "\u202E", "\uD800", "\u0000", "-"))
  .map(([length, unit]) => unit.repeat(Math.ceil(length / unit.length)).slice(0, length));

/** Strings around the schemas' length limits. */
const boundaryString = fc.constantFrom(63, 64, 65, 128, 129, 256, 257, 1024, 1025).map((n) => "a".repeat(n));

/** Hostile strings of at most 1025 characters. */
export const shortNastyString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...SPECIAL_STRINGS) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 40 }) },
  { weight: 2, arbitrary: fc.array(fc.oneof(loneSurrogate, fc.constantFrom("a", "\u202E", "\u{1F600}", "-")), { minLength: 1, maxLength: 8 }).map((a) => a.join("")) },
  { weight: 2, arbitrary: boundaryString },
);

/** Hostile strings, one in sixty huge. */
export const nastyString: fc.Arbitrary<string> = fc.oneof({ weight: 59, arbitrary: shortNastyString }, { weight: 1, arbitrary: hugeString });

/** JSON text of a string: escaped (what JSON.stringify writes) or raw (what JSON allows). */
export const nastyStringJson = fc.tuple(nastyString, fc.boolean()).map(([value, raw]) => (raw ? rawJsonString(value) : jsonString(value)));

/** Payloads that would pollute a prototype if anything merged them naively. */
export const pollutionPayload = fc.constantFrom(
  `{"${POLLUTION_KEY}":"yes"}`,
  `{"__proto__":{"${POLLUTION_KEY}":"yes"}}`,
  `{"prototype":{"${POLLUTION_KEY}":"yes"}}`,
  `{"constructor":{"prototype":{"${POLLUTION_KEY}":"yes"}}}`,
  `[{"__proto__":{"${POLLUTION_KEY}":"yes"}}]`,
);

/** Keys that are not in any schema: the prototype ones first. */
export const strayKey = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("__proto__", "constructor", "prototype", "hasOwnProperty", "toString", "valueOf", "__defineGetter__", "isPrototypeOf") },
  { weight: 1, arbitrary: shortNastyString },
);

/** Values of the wrong type, or numbers JSON can write but a schema should refuse. */
export const wrongValue: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      "null",
      "true",
      "false",
      "0",
      "-0",
      "-1",
      "1.5",
      "1e309", // Infinity after JSON.parse
      "-1e309",
      "1e21",
      "9007199254740993",
      "[]",
      "{}",
      '""',
      '"300"',
      '"NaN"',
      '"true"',
      '{"$gt":""}',
      "[null]",
      "[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]",
    ),
  },
  { weight: 1, arbitrary: pollutionPayload },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.integer().map(String) },
  { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }).map(String) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 10_000 }).map((depth) => `${"[".repeat(depth)}${"]".repeat(depth)}`) },
);

/** Anything in the place of a value: a wrong type or a hostile string. */
export const badValue = fc.oneof({ weight: 3, arbitrary: wrongValue }, { weight: 2, arbitrary: nastyStringJson });

/** Mutations of an object's entries, with field-specific bad values. */
export function mutationOf(fields: readonly string[], badFor: (field: string) => fc.Arbitrary<string>): fc.Arbitrary<Mutation> {
  const field = fc.constantFrom(...fields);
  return fc.oneof(
    { weight: 6, arbitrary: field.chain((key) => badFor(key).map((value): Mutation => ({ kind: "set", key, value }))) },
    { weight: 2, arbitrary: field.map((key): Mutation => ({ kind: "delete", key })) },
    { weight: 3, arbitrary: fc.tuple(strayKey, fc.oneof(pollutionPayload, wrongValue)).map(([key, value]): Mutation => ({ kind: "append", key, value })) },
    { weight: 1, arbitrary: field.chain((key) => badFor(key).map((value): Mutation => ({ kind: "append", key, value }))) },
  );
}

/** No mutation at all (a valid case) about a third of the time, else one to three. */
export const mutations = (mutation: fc.Arbitrary<Mutation>) =>
  fc.oneof({ weight: 1, arbitrary: fc.constant<Mutation[]>([]) }, { weight: 2, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 3 }) });

/** Text that is not the JSON it was meant to be, derived from a valid text. */
export function garbled(text: string): fc.Arbitrary<string> {
  return fc.oneof(
    fc.integer({ min: 0, max: Math.max(0, text.length - 1) }).map((n) => text.slice(0, n)), // truncated
    fc.constantFrom(`\uFEFF${text}`, `${text}}`, `${text}garbage`, `[${text}]`, `${text},${text}`, text.replace(/"/g, "'")),
    fc.constantFrom("", " ", "null", "[]", "{}", "42", '"text"', "true", "undefined", "NaN", "{'a':1}", "{\"a\":}", "\u0000"),
    fc.string({ unit: "binary", maxLength: 200 }),
  );
}

/** Whether a value is a JSON object (not null, not an array). */
export const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** An own property, never one inherited. */
export const own = (object: Record<string, unknown>, key: string): unknown => (Object.hasOwn(object, key) ? object[key] : undefined);

/** Unhandled rejections and uncaught exceptions while a suite runs. */
export function watchProcess() {
  const seen: unknown[] = [];
  const record = (reason: unknown) => void seen.push(reason);
  process.on("unhandledRejection", record);
  process.on("uncaughtException", record);
  return {
    seen,
    stop() {
      process.off("unhandledRejection", record);
      process.off("uncaughtException", record);
    },
  };
}

/**
 * The built-in prototypes as they are now; `changes()` names what differs later. Cheap enough to
 * call after every case: a key added, removed or replaced on any of them is seen.
 */
export function prototypeSnapshot() {
  const targets = [Object.prototype, Array.prototype, Function.prototype, String.prototype, Number.prototype, Boolean.prototype];
  const snapshot = () => targets.map((proto) => Reflect.ownKeys(proto).map((key) => [key, Object.getOwnPropertyDescriptor(proto, key)!.value] as const));
  const before = snapshot();
  return {
    changes(): string[] {
      const out: string[] = [];
      if (POLLUTION_KEY in {} || POLLUTION_KEY in []) out.push(`${POLLUTION_KEY} is inherited`);
      if (Object.getPrototypeOf({}) !== Object.prototype) out.push("({}) has a new prototype");
      const now = snapshot();
      now.forEach((entries, i) => {
        const was = before[i]!;
        if (entries.length !== was.length || entries.some(([key, value], j) => was[j]![0] !== key || was[j]![1] !== value)) {
          out.push(`${targets[i]!.constructor.name}.prototype changed`);
        }
      });
      return out;
    },
  };
}

/** fast-check parameters shared by the suites: fixed seed, explicit run count. */
export const runParameters = <T>(numRuns: number): fc.Parameters<T> => ({ seed: FUZZ_SEED, numRuns });
