// Fuzz: generated and mutated `token.requested` queue messages through the broker's handleBatch
// with in-memory ports. An independent oracle says, for each message, what the answer must be.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BrokerEvent,
  createBroker,
  credentialsParameterName,
  DetailType,
  INTERNAL_SOURCE,
  InternalDetailType,
  namesFor,
  TokenFailed,
  TokenReady,
  TokenRequested,
  TokenRevoked,
  TokenRotated,
} from "@newstore-auth/core";
import { CapturingLogger, credentials, FakeClock, MemoryParameters, RecordingPublisher, ScriptedIssuer } from "../../packages/core/test/memory-ports.js";
import {
  badValue,
  type Entries,
  garbled,
  isObject,
  jsonObject,
  jsonString,
  mutate,
  mutationOf,
  mutations,
  nastyStringJson,
  own,
  pollutionPayload,
  prototypeSnapshot,
  runParameters,
  watchProcess,
  wrongValue,
} from "./support.js";

/** Batches; each holds 7-10 messages, so the run covers at least 7 × BATCHES messages. */
const BATCHES = 1_500;
const MIN_MESSAGES = 10_000;

const names = namesFor("fuzz");
/** Clients with credentials; prototype-shaped ids on purpose (they are valid client ids). */
const REGISTERED = ["alpha", "beta.2", "__proto__", "constructor"];
const UNREGISTERED = ["orders-sync", "toString", "hasOwnProperty", "prototype", ".", "..", "a".repeat(128)];

// The contract's rules, written out again here so the oracle does not lean on the code it checks.
const REQUESTER_RULE = /^[A-Za-z0-9_.:@/-]{1,256}$/;

// ---------------------------------------------------------------------------------------------
// Generators

const clientId = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...REGISTERED) },
  { weight: 2, arbitrary: fc.constantFrom(...UNREGISTERED) },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9_.-]{1,128}$/) },
);
const requester = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom("orders-sync", "svc:orders@eu/1", "a", "x".repeat(256)) },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9_.:@/-]{1,256}$/) },
);

const validDetail: fc.Arbitrary<Entries> = fc
  .record({
    requestId: fc.uuid(),
    clientId,
    requester,
    minValiditySeconds: fc.option(fc.integer({ min: 0, max: 86_400 }), { nil: undefined }),
    forceRefresh: fc.option(fc.boolean(), { nil: undefined }),
  })
  .map((d) => Object.entries(d).flatMap(([key, value]): Entries => (value === undefined ? [] : [[key, JSON.stringify(value)]])));

const DETAIL_FIELDS = ["requestId", "clientId", "requester", "minValiditySeconds", "forceRefresh"];

const badMinValidity = fc.oneof(
  fc.constantFrom("-1", "-0", "0.5", "86400.5", "86401", "1e21", "1e309", "-1e309", "9007199254740993", "null", '"300"', '"NaN"', '"Infinity"', "true"),
  fc.integer({ min: -1_000_000, max: 1_000_000 }).map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
);

const badDetailValue = (field: string) =>
  field === "minValiditySeconds"
    ? fc.oneof(badMinValidity, badValue)
    : field === "forceRefresh"
      ? fc.oneof(fc.constantFrom('"true"', "1", "0", "null", '"yes"'), badValue)
      : field === "clientId" || field === "requester"
        ? fc.oneof(fc.constantFrom('"a/b"', '"a b"', '"\u00E9"', `"${"a".repeat(129)}"`, `"${"a".repeat(257)}"`, '""'), badValue)
        : fc.oneof(fc.constantFrom('"not-a-uuid"', '"00000000000000000000000000000000"', '"{8a1f0a2e-7d7b-4b5e-9b0a-1c2d3e4f5a6b}"', `"${"f".repeat(257)}"`), badValue);

const detailText = fc.oneof(
  { weight: 12, arbitrary: fc.tuple(validDetail, mutations(mutationOf(DETAIL_FIELDS, badDetailValue))).map(([entries, ms]) => jsonObject(mutate(entries, ms))) },
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.constantFrom("null", "[]", "42", '"token"', "true", "{}"),
      validDetail.map((entries) => `[${jsonObject(entries)}]`), // a valid request inside an array
      validDetail.map((entries) => jsonString(jsonObject(entries))), // a valid request as a JSON string
      pollutionPayload,
    ),
  },
);

const ENVELOPE_FIELDS = ["version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"];

const badEnvelopeValue = (field: string) =>
  field === "detail-type"
    ? fc.oneof(
        fc.constantFrom('"token.ready"', '"token.failed"', '"Token.Requested"', '"token.requested "', '"token.requested\\u0000"', '""'),
        fc.constant(jsonString(InternalDetailType.refreshDue)),
        badValue,
      )
    : field === "source"
      ? fc.oneof(fc.constantFrom(jsonString(INTERNAL_SOURCE), '"newstore-auth.broker"', '"aws.events"', '""'), badValue)
      : field === "detail"
        ? detailText
        : field === "resources"
          ? fc.oneof(fc.constantFrom("[1]", "[null]", '"arn"', '[["arn"]]'), badValue)
          : fc.oneof(wrongValue, nastyStringJson);

const envelope: fc.Arbitrary<Entries> = fc
  .record({ id: fc.uuid(), detail: detailText, account: fc.option(fc.constantFrom("123456789012"), { nil: undefined }) })
  .map(({ id, detail, account }) => [
    ["version", '"0"'],
    ["id", jsonString(id)],
    ["detail-type", jsonString(DetailType.requested)],
    ["source", '"it.consumer"'],
    ...(account ? ([["account", jsonString(account)]] as Entries) : []),
    ["time", '"2026-12-04T12:00:00Z"'],
    ["region", '"us-east-1"'],
    ["resources", "[]"],
    ["detail", detail],
  ]);

/** One queue message body: mostly an EventBridge envelope, mutated or not; sometimes no JSON at all. */
const messageBody: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 9,
    arbitrary: fc
      .tuple(envelope, fc.oneof({ weight: 3, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(mutationOf(ENVELOPE_FIELDS, badEnvelopeValue), { minLength: 1, maxLength: 2 }) }))
      .map(([entries, ms]) => jsonObject(mutate(entries, ms))),
  },
  { weight: 1, arbitrary: envelope.chain((entries) => garbled(jsonObject(entries))) },
);

const batch = fc.array(messageBody, { minLength: 7, maxLength: 10 });

// ---------------------------------------------------------------------------------------------
// The oracle

type Expected =
  | { kind: "drop" }
  | { kind: "work" }
  | { kind: "ready"; requestId: string; clientId: string; requester: string }
  | { kind: "failed"; code: "INVALID_REQUEST" | "UNKNOWN_CLIENT"; requestId: string; clientId: string; requester: string };

/** The envelope as EventBridge delivers it, read by this test's own rules. */
function readEnvelope(value: unknown): { detailType: string; source: string; detail: unknown } | undefined {
  if (!isObject(value)) return undefined;
  const [id, detailType, source] = [own(value, "id"), own(value, "detail-type"), own(value, "source")];
  if (typeof id !== "string" || typeof detailType !== "string" || typeof source !== "string") return undefined;
  for (const key of ["version", "account", "time", "region"]) if (Object.hasOwn(value, key) && typeof value[key] !== "string") return undefined;
  if (Object.hasOwn(value, "resources")) {
    const resources = value.resources;
    if (!Array.isArray(resources) || resources.some((r) => typeof r !== "string")) return undefined;
  }
  if (!Object.hasOwn(value, "detail")) return undefined;
  return { detailType, source, detail: value.detail };
}

/** Who a reply goes to: a readable requestId (1-256) and a routable requester, own properties only. */
function routable(detail: unknown): { requestId: string; requester: string; clientId: string } | undefined {
  if (!isObject(detail)) return undefined;
  const [requestId, requester, id] = [own(detail, "requestId"), own(detail, "requester"), own(detail, "clientId")];
  if (typeof requestId !== "string" || requestId.length < 1 || requestId.length > 256) return undefined;
  if (typeof requester !== "string" || !REQUESTER_RULE.test(requester)) return undefined;
  return { requestId, requester, clientId: typeof id === "string" ? id.slice(0, 256) : "" };
}

function expectedAnswer(body: string): Expected {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { kind: "drop" };
  }
  const envelope = readEnvelope(parsed);
  if (!envelope) return { kind: "drop" };
  // Work items are the broker's own: recognised by source and type together. A token.requested
  // under that source (a consumer can publish one) is answered like any other (found by this fuzzer).
  if (envelope.source === INTERNAL_SOURCE && envelope.detailType === InternalDetailType.refreshDue) return { kind: "work" };
  const replyTo = routable(envelope.detail);
  const invalid = (): Expected => (replyTo ? { kind: "failed", code: "INVALID_REQUEST", ...replyTo } : { kind: "drop" });
  if (envelope.detailType !== DetailType.requested) return invalid();
  const request = TokenRequested.safeParse(envelope.detail);
  if (!request.success) return invalid();
  const { requestId, clientId, requester } = request.data;
  if (!replyTo) throw new Error(`oracle: a valid request must be routable: ${body.slice(0, 300)}`);
  return REGISTERED.includes(clientId) ? { kind: "ready", requestId, clientId, requester } : { kind: "failed", code: "UNKNOWN_CLIENT", requestId, clientId, requester };
}

const answerKey = (e: { kind: string; requestId: string; clientId: string; requester: string; code?: string }) =>
  JSON.stringify([e.kind, e.code ?? "", e.requestId, e.clientId, e.requester]);

function actualKey(event: BrokerEvent): string | undefined {
  if (event.detailType === DetailType.ready) return answerKey({ kind: "ready", ...event.detail });
  if (event.detailType === DetailType.failed) return answerKey({ kind: "failed", ...event.detail });
  return undefined;
}

function validatesAgainstContract(event: BrokerEvent): boolean {
  const schema = { [DetailType.ready]: TokenReady, [DetailType.failed]: TokenFailed, [DetailType.rotated]: TokenRotated, [DetailType.revoked]: TokenRevoked }[
    event.detailType
  ];
  return schema !== undefined && schema.safeParse(event.detail).success;
}

// ---------------------------------------------------------------------------------------------

describe("fuzz: token.requested through the broker", () => {
  const watch = { process: undefined as ReturnType<typeof watchProcess> | undefined };
  const prototypes = prototypeSnapshot();
  const counts = { batches: 0, messages: 0, crashes: 0, ready: 0, invalid: 0, unknownClient: 0, dropped: 0, work: 0, huge: 0 };

  beforeAll(() => {
    watch.process = watchProcess();
  });
  afterAll(() => watch.process?.stop());

  it(`answers each of ≥ ${MIN_MESSAGES} generated messages exactly as the oracle says, or drops only the unroutable`, async () => {
    const started = performance.now();
    await fc.assert(
      fc.asyncProperty(batch, async (bodies) => {
        counts.batches += 1;
        counts.messages += bodies.length;
        const clock = new FakeClock();
        const parameters = new MemoryParameters();
        const events = new RecordingPublisher();
        const newstore = new ScriptedIssuer();
        const log = new CapturingLogger();
        const secrets: string[] = [];
        for (const id of REGISTERED) {
          const c = credentials(id, clock.now());
          secrets.push(c.clientSecret);
          await parameters.put(credentialsParameterName(names, id), JSON.stringify(c));
        }
        const broker = createBroker({ names }, { parameters, events, newstore, clock, log });
        const messages = bodies.map((body, i) => ({ messageId: `m-${counts.batches}-${i}`, body }));
        const expected = bodies.map(expectedAnswer);
        counts.huge += bodies.filter((b) => b.length > 16 * 1024).length;

        let result: Awaited<ReturnType<typeof broker.handleBatch>>;
        try {
          result = await broker.handleBatch(messages);
        } catch (error) {
          counts.crashes += 1;
          throw error;
        }

        // Nothing here is transient: no message goes back to the queue.
        expect(result.failedMessageIds).toEqual([]);

        // Exactly one answer per answerable message, the one the oracle names; nothing else.
        const answers = expected.flatMap((e) => (e.kind === "ready" || e.kind === "failed" ? [answerKey(e)] : [])).sort();
        const published = events.published.flatMap((e) => actualKey(e) ?? []).sort();
        expect(published).toEqual(answers);
        for (const e of events.published) {
          if (e.detailType === DetailType.failed) expect(e.detail.retryable).toBe(false);
        }

        // One rotation per registered client that had a valid request (cold broker, one batch).
        const served = new Set(expected.flatMap((e) => (e.kind === "ready" ? [e.clientId] : [])));
        expect(events.of(DetailType.rotated).map((r) => r.clientId).sort()).toEqual([...served].sort());
        expect(newstore.calls).toHaveLength(served.size);
        expect(events.published.filter((e) => e.detailType === DetailType.revoked)).toEqual([]);

        // A dropped message leaves a trace in the log, one each.
        const drops = expected.filter((e) => e.kind === "drop").length;
        expect(log.lines.filter((l) => l.message === "unanswerable message dropped")).toHaveLength(drops);

        // Every event fits its contract; no event or log line holds a secret or a token.
        for (const e of events.published) expect(validatesAgainstContract(e), JSON.stringify(e).slice(0, 500)).toBe(true);
        const visible = JSON.stringify(events.published) + JSON.stringify(log.lines);
        for (const secret of [...secrets, ...newstore.issued]) expect(visible.includes(secret)).toBe(false);

        expect(prototypes.changes()).toEqual([]);

        for (const e of expected) {
          if (e.kind === "ready") counts.ready += 1;
          else if (e.kind === "failed" && e.code === "INVALID_REQUEST") counts.invalid += 1;
          else if (e.kind === "failed") counts.unknownClient += 1;
          else if (e.kind === "work") counts.work += 1;
          else counts.dropped += 1;
        }
      }),
      runParameters(BATCHES),
    );
    const seconds = ((performance.now() - started) / 1000).toFixed(1);

    console.log(
      `fuzz: ${counts.messages} token.requested in ${counts.batches} batches, ${counts.crashes} crashes, ${watch.process!.seen.length} unhandled rejections ` +
        `(ready ${counts.ready}, INVALID_REQUEST ${counts.invalid}, UNKNOWN_CLIENT ${counts.unknownClient}, dropped ${counts.dropped}, work ${counts.work}; ` +
        `${counts.huge} over 16 KB) in ${seconds} s`,
    );
    expect(counts.messages).toBeGreaterThanOrEqual(MIN_MESSAGES);
    expect(counts.crashes).toBe(0);
    // Every class must be exercised, or the generators have drifted.
    for (const key of ["ready", "invalid", "unknownClient", "dropped", "huge"] as const) expect(counts[key], key).toBeGreaterThan(100);
    expect(watch.process!.seen).toEqual([]);
    expect(prototypes.changes()).toEqual([]);
  });
});
