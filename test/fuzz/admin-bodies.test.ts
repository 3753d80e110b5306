// Fuzz: generated and mutated admin API bodies through core's createAdmin with in-memory ports.
// (The HTTP handler builds its Admin from the environment with real AWS clients and takes no
// injected one; admin-handler.test.ts drives it on moto with a smaller sample.)
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminError, createAdmin } from "@newstore-auth/core/admin";
import { credentialsParameterName, DEFAULT_ALLOWED_ROLES, InternalDetailType, namesFor } from "@newstore-auth/core";
import { CapturingLogger, credentials, FakeClock, MemoryParameters, MemoryWorkQueue } from "../../packages/core/test/memory-ports.js";
import { type AdminCase, adminCase, DEFAULT_TENANT, EXISTING, expectAdmin, fieldsOutsideWrong, secretsIn } from "./admin-cases.js";
import { prototypeSnapshot, runParameters, watchProcess } from "./support.js";

const RUNS = 10_500;
const MIN_CASES = 10_000;
const names = namesFor("fuzz");

async function world(defaultTenant: string | undefined) {
  const clock = new FakeClock();
  const parameters = new MemoryParameters();
  const work = new MemoryWorkQueue();
  const log = new CapturingLogger();
  for (const id of EXISTING) await parameters.put(credentialsParameterName(names, id), JSON.stringify(credentials(id, clock.now(), { roles: ["shipments:read"] })));
  const admin = createAdmin({ names, allowedRoles: DEFAULT_ALLOWED_ROLES, defaultTenant }, { parameters, work, clock, log });
  return { admin, parameters, work, log };
}

describe("fuzz: admin API bodies through core's createAdmin", () => {
  let watch: ReturnType<typeof watchProcess>;
  const prototypes = prototypeSnapshot();
  const counts = { cases: 0, crashes: 0, byStatus: {} as Record<string, number> };

  beforeAll(() => {
    watch = watchProcess();
  });
  afterAll(() => watch.stop());

  it(`answers each of ≥ ${MIN_CASES} generated POST/PUT bodies with the status and fields the oracle names`, async () => {
    const started = performance.now();
    await fc.assert(
      fc.asyncProperty(adminCase, fc.boolean(), async (c: AdminCase, withDefaultTenant) => {
        counts.cases += 1;
        const defaultTenant = withDefaultTenant ? DEFAULT_TENANT : undefined;
        const { admin, parameters, work, log } = await world(defaultTenant);
        const before = JSON.stringify([...parameters.values]);
        const body: unknown = JSON.parse(c.body); // what the handler hands over
        const expected = expectAdmin(c, body, { existing: new Set(EXISTING), defaultTenant });

        let status: number;
        let answer: unknown;
        try {
          answer = c.op === "create" ? await admin.create(body) : await admin.replace(c.pathId, body);
          status = c.op === "create" ? 201 : 200;
        } catch (error) {
          if (!(error instanceof AdminError)) {
            counts.crashes += 1;
            throw error;
          }
          status = error.status;
          answer = { code: error.code, message: error.message, fields: error.fields };
        }
        counts.byStatus[status] = (counts.byStatus[status] ?? 0) + 1;
        expect(status, c.body.slice(0, 300)).toBe(expected.status);

        if (expected.status === 400) {
          const { fields, code } = answer as { fields?: Record<string, string>; code: string };
          expect(code).toBe("INVALID_REQUEST");
          expect(Object.keys(fields ?? {}).length, `fields of ${c.body.slice(0, 200)}`).toBeGreaterThan(0);
          expect(fieldsOutsideWrong(fields, expected.wrong), `wrong: ${[...expected.wrong].join(", ")}`).toEqual([]);
        }
        if (expected.status === 201 || expected.status === 200) {
          expect(answer).toMatchObject({ clientId: expected.clientId, ...(expected.roles ? { roles: expected.roles } : {}), ...(expected.tenant ? { tenant: expected.tenant } : {}) });
          const stored = JSON.parse(parameters.values.get(credentialsParameterName(names, expected.clientId))!.value);
          const sent = (body as { client_secret?: string }).client_secret;
          if (sent !== undefined) expect(stored.clientSecret).toBe(sent);
          // PUT tells the broker, once; POST does not.
          const told = work.items.map((i) => i as { "detail-type": string; detail: { clientId: string } });
          expect(told).toEqual(expected.status === 200 ? [expect.objectContaining({ "detail-type": InternalDetailType.credentialsChanged, detail: { clientId: expected.clientId } })] : []);
        } else {
          // A refused request changes nothing and tells nobody.
          expect(JSON.stringify([...parameters.values])).toBe(before);
          expect(work.items).toEqual([]);
        }

        // The answer and the log never hold a secret that was sent.
        const visible = JSON.stringify(answer) + JSON.stringify(log.lines);
        for (const s of secretsIn(c.body)) expect(visible.includes(s), "secret in answer or log").toBe(false);
        expect(prototypes.changes()).toEqual([]);
      }),
      runParameters(RUNS),
    );
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const statuses = Object.entries(counts.byStatus).map(([s, n]) => `${s}: ${n}`).join(", ");
    console.log(
      `fuzz: ${counts.cases} admin bodies (core), ${counts.crashes} crashes, ${watch.seen.length} unhandled rejections (${statuses}) in ${seconds} s`,
    );
    expect(counts.cases).toBeGreaterThanOrEqual(MIN_CASES);
    expect(counts.crashes).toBe(0);
    for (const status of ["200", "201", "400", "404", "409"]) expect(counts.byStatus[status] ?? 0, `status ${status}`).toBeGreaterThan(100);
    expect(watch.seen).toEqual([]);
    expect(prototypes.changes()).toEqual([]);
  });

  it("a body whose only wrong key is \"__proto__\" gets a 400 that names it in fields (found by this fuzzer)", async () => {
    const { admin } = await world(DEFAULT_TENANT);
    const body = JSON.parse('{"client_id":"a","client_secret":"s","role":"shipments:read","__proto__":1}');
    const error = await admin.create(body).then(
      () => undefined,
      (e: unknown) => e as AdminError,
    );
    expect(error?.status).toBe(400);
    expect(Object.keys(error?.fields ?? {})).toEqual(["__proto__"]);
  });

  it("an unknown `role` sent together with valid `roles` is reported under `role` (found by this fuzzer)", async () => {
    const { admin } = await world(DEFAULT_TENANT);
    const error = await admin.create({ client_id: "a", client_secret: "s", role: "admin:all", roles: ["shipments:read"] }).then(
      () => undefined,
      (e: unknown) => e as AdminError,
    );
    expect(error?.status).toBe(400);
    expect(Object.keys(error?.fields ?? {})).toEqual(["role"]);
  });
});
