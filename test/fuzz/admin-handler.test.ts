// Fuzz: generated admin API requests through the real HTTP handler, on moto (real SSM and SQS
// clients). createAdminHandler takes no injected Admin, so this is a smaller sample than
// admin-bodies.test.ts, which drives core's createAdmin with in-memory ports.
import { randomUUID } from "node:crypto";
import type { APIGatewayProxyEvent } from "aws-lambda";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CreateQueueCommand, SQSClient } from "@aws-sdk/client-sqs";
import { AdminEnv, Env } from "@newstore-auth/core";
import { type AdminHandler, createAdminHandler } from "@newstore-auth/functions/admin";
import { startMoto, type MotoServer } from "@newstore-auth/local/moto";
import { CapturingLogger } from "../../packages/core/test/memory-ports.js";
import { type AdminCase, adminCase, DEFAULT_TENANT, EXISTING, expectAdmin, fieldsOutsideWrong, secretsIn } from "./admin-cases.js";
import { garbled, prototypeSnapshot, runParameters, watchProcess } from "./support.js";

const RUNS = 500;
const API_KEY = `fuzz-key-${randomUUID()}`;
const MAX_BODY_BYTES = 16 * 1024; // the admin API's documented limit

interface Transport {
  key: "ok" | "missing" | "wrong";
  contentType: string | undefined;
  base64: boolean;
  /** Replaces the JSON body: padded past the limit, or not JSON at all. */
  body: { kind: "as-is" } | { kind: "oversize"; padding: number } | { kind: "garbled"; text: string };
  badPathEncoding: boolean;
}

const CONTENT_TYPES: Array<[string | undefined, boolean]> = [
  ["application/json", true],
  ["application/json; charset=utf-8", true],
  ["APPLICATION/JSON", true],
  [undefined, true],
  ["text/plain", false],
  ["application/x-www-form-urlencoded", false],
  ["application/jsonp", false],
  ["", false],
];

const transport = (c: AdminCase): fc.Arbitrary<Transport> =>
  fc.record({
    key: fc.oneof({ weight: 30, arbitrary: fc.constant("ok" as const) }, { weight: 1, arbitrary: fc.constantFrom("missing" as const, "wrong" as const) }),
    contentType: fc.oneof({ weight: 12, arbitrary: fc.constant("application/json") }, { weight: 3, arbitrary: fc.constantFrom(...CONTENT_TYPES.map(([t]) => t)) }),
    base64: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    body: fc.oneof(
      { weight: 16, arbitrary: fc.constant({ kind: "as-is" as const }) },
      { weight: 1, arbitrary: fc.integer({ min: MAX_BODY_BYTES, max: 64 * 1024 }).map((padding) => ({ kind: "oversize" as const, padding })) },
      { weight: 1, arbitrary: garbled(c.body).map((text) => ({ kind: "garbled" as const, text })) },
    ),
    badPathEncoding: fc.oneof({ weight: 30, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  });

const request = adminCase.chain((c) => transport(c).map((t) => [c, t] as const));

/** The path segment for an id; undefined when it cannot be encoded (a lone surrogate). */
function encodeSegment(id: string): string | undefined {
  try {
    return encodeURIComponent(id);
  } catch {
    return undefined;
  }
}

function eventFor(c: AdminCase, t: Transport): { event: APIGatewayProxyEvent; text: string; segment?: string } {
  const text = t.body.kind === "oversize" ? c.body + " ".repeat(t.body.padding) : t.body.kind === "garbled" ? t.body.text : c.body;
  const segment = c.op === "replace" ? (t.badPathEncoding ? "%E0%A4%A" : (encodeSegment(c.pathId) ?? "%ED%A0%80")) : undefined;
  const headers: Record<string, string> = {};
  if (t.key !== "missing") headers["X-Api-Key"] = t.key === "ok" ? API_KEY : `${API_KEY}x`;
  if (t.contentType !== undefined) headers["Content-Type"] = t.contentType;
  const event = {
    httpMethod: c.op === "create" ? "POST" : "PUT",
    path: c.op === "create" ? "/credentials" : `/credentials/${segment}`,
    headers,
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    requestContext: {},
    resource: "/{proxy+}",
    body: t.base64 ? Buffer.from(text, "utf8").toString("base64") : text,
    isBase64Encoded: t.base64,
  } as unknown as APIGatewayProxyEvent;
  return { event, text, segment };
}

type HttpExpectation = ReturnType<typeof expectAdmin> | { status: 403 | 405 | 413 | 415 } | { status: 400; wrong: Set<string> };

/** HTTP first (key, route, path encoding, size, type, JSON), then the body's own oracle. */
function expectHttp(c: AdminCase, t: Transport, text: string, segment: string | undefined, existing: ReadonlySet<string>): HttpExpectation {
  if (t.key !== "ok") return { status: 403 };
  if (segment === "") return { status: 405 }; // PUT /credentials/ is the collection
  if (segment !== undefined) {
    try {
      decodeURIComponent(segment);
    } catch {
      return { status: 400, wrong: new Set(["clientId"]) };
    }
  }
  const bytes = Buffer.from(text, "utf8"); // what crosses the wire: lone surrogates become U+FFFD
  if (bytes.length > MAX_BODY_BYTES) return { status: 413 };
  if (t.contentType !== undefined && !CONTENT_TYPES.find(([type]) => type === t.contentType)![1]) return { status: 415 };
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString("utf8"));
  } catch {
    return { status: 415 };
  }
  return expectAdmin(c, body, { existing, defaultTenant: DEFAULT_TENANT });
}

describe("fuzz: admin API requests through the HTTP handler on moto", () => {
  let moto: MotoServer;
  let sqs: SQSClient;
  let handler: AdminHandler;
  let watch: ReturnType<typeof watchProcess>;
  const log = new CapturingLogger();
  const prototypes = prototypeSnapshot();
  const existing = new Set<string>();

  beforeAll(async () => {
    watch = watchProcess();
    moto = await startMoto();
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_REGION: "us-east-1",
      AWS_DEFAULT_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "testing",
      AWS_SECRET_ACCESS_KEY: "testing",
    });
    sqs = new SQSClient({ maxAttempts: 1 });
    const { QueueUrl } = await sqs.send(
      new CreateQueueCommand({ QueueName: "newstore-auth-fuzz-broker.fifo", Attributes: { FifoQueue: "true", ContentBasedDeduplication: "true" } }),
    );
    handler = createAdminHandler({
      env: { [Env.stage]: "fuzz", [AdminEnv.brokerQueueUrl]: QueueUrl, [AdminEnv.apiKey]: API_KEY, [AdminEnv.defaultTenant]: DEFAULT_TENANT },
      log,
      aws: { maxAttempts: 1 },
    });
    for (const id of EXISTING) {
      const out = await handler({
        httpMethod: "POST",
        path: "/credentials",
        headers: { "x-api-key": API_KEY, "content-type": "application/json" },
        body: JSON.stringify({ client_id: id, client_secret: `seed-${randomUUID()}`, role: "shipments:read" }),
        isBase64Encoded: false,
      } as unknown as APIGatewayProxyEvent);
      expect(out.statusCode, out.body).toBe(201);
      existing.add(id);
    }
  });
  afterAll(async () => {
    watch?.stop();
    sqs?.destroy();
    await moto?.stop();
  });

  it(`answers each of ${RUNS} generated requests with the status and fields the oracle names`, async () => {
    const started = performance.now();
    const counts = { requests: 0, crashes: 0, byStatus: {} as Record<string, number> };
    await fc.assert(
      fc.asyncProperty(request, async ([c, t]) => {
        counts.requests += 1;
        const { event, text, segment } = eventFor(c, t);
        const expected = expectHttp(c, t, text, segment, existing);
        let status: number;
        let answer: { error?: { code: string; fields?: Record<string, string> }; clientId?: string; roles?: string[]; tenant?: string };
        let raw: string;
        try {
          const out = await handler(event);
          status = out.statusCode;
          raw = out.body;
          answer = JSON.parse(out.body);
        } catch (error) {
          counts.crashes += 1;
          throw error;
        }
        counts.byStatus[status] = (counts.byStatus[status] ?? 0) + 1;
        expect(status, `${event.httpMethod} ${event.path.slice(0, 80)} ${text.slice(0, 200)} -> ${raw.slice(0, 300)}`).toBe(expected.status);
        if (status === 201) existing.add(answer.clientId!);

        if ("wrong" in expected) {
          const fields = answer.error?.fields;
          expect(Object.keys(fields ?? {}).length, `fields of ${text.slice(0, 200)}`).toBeGreaterThan(0);
          expect(fieldsOutsideWrong(fields, expected.wrong), `fields ${JSON.stringify(fields)}`).toEqual([]);
        }
        if (expected.status === 200 || expected.status === 201) {
          expect(answer).toMatchObject({ clientId: expected.clientId, ...(expected.roles ? { roles: expected.roles } : {}), ...(expected.tenant ? { tenant: expected.tenant } : {}) });
        }
        for (const s of secretsIn(text)) expect(raw.includes(s), "secret in the response").toBe(false);
        expect(prototypes.changes()).toEqual([]);
      }),
      runParameters(RUNS),
    );
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const statuses = Object.entries(counts.byStatus).map(([s, n]) => `${s}: ${n}`).join(", ");
    console.log(`fuzz: ${counts.requests} admin requests via the HTTP handler on moto, ${counts.crashes} crashes, ${watch.seen.length} unhandled rejections (${statuses}) in ${seconds} s`);

    expect(counts.requests).toBeGreaterThanOrEqual(RUNS);
    expect(counts.crashes).toBe(0);
    for (const status of ["200", "201", "400", "413", "415"]) expect(counts.byStatus[status] ?? 0, `status ${status}`).toBeGreaterThan(0);
    // Nothing that was sent as a secret reached the log either.
    const logged = JSON.stringify(log.lines);
    expect(logged.includes("S3cr3t-")).toBe(false);
    expect(watch.seen).toEqual([]);
    expect(prototypes.changes()).toEqual([]);
  });
});
