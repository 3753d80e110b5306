// Generated admin API bodies (POST /credentials, PUT /credentials/{id}) and the oracle that says
// what each must get, written from the API's contract rather than from its code.
import fc from "fast-check";
import { DEFAULT_ALLOWED_ROLES } from "@newstore-auth/core";
import { badValue, type Entries, hugeString, isObject, jsonObject, jsonString, mutate, mutationOf, mutations, own, shortNastyString, pollutionPayload } from "./support.js";

/** Clients that exist before each case; prototype-shaped ids on purpose (they are valid ids). */
export const EXISTING = ["existing-1", "existing.2", "__proto__", "constructor"] as const;
export const DEFAULT_TENANT = "acme";

/** Every sent secret starts with this and a UUID: its presence anywhere in output is a leak. */
export const SECRET_MARK = "S3cr3t-";

const CLIENT_ID_RULE = /^[A-Za-z0-9_.-]{1,128}$/;
const TENANT_RULE = /^[a-z0-9][a-z0-9-]{0,62}$/;
const FIELDS = ["client_id", "client_secret", "role", "roles", "tenant"] as const;
const ALLOWED = new Set<string>(DEFAULT_ALLOWED_ROLES);

export interface AdminCase {
  op: "create" | "replace";
  /** PUT's path id, decoded. */
  pathId: string;
  /** The body as JSON text. */
  body: string;
}

// ---------------------------------------------------------------------------------------------
// Generators

const newClientId = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom("new-client", "toString", "prototype", "hasOwnProperty", ".", "..", "a".repeat(128)) },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9_.-]{1,128}$/) },
);
const clientId = fc.oneof({ weight: 1, arbitrary: fc.constantFrom(...EXISTING) }, { weight: 1, arbitrary: newClientId });
const invalidClientId = fc.oneof(
  fc.constantFrom("", "a/b", "a b", "\u00E9", "a".repeat(129), "a%2Fb", "existing-1/", "\u202Eexisting-1", "existing-1\u0000"),
  shortNastyString.filter((s) => !CLIENT_ID_RULE.test(s)),
);
const pathId = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...EXISTING) }, { weight: 2, arbitrary: newClientId }, { weight: 2, arbitrary: invalidClientId });

const secret = fc
  .tuple(
    fc.uuid(),
    fc.oneof(
      { weight: 3, arbitrary: fc.constant("") },
      { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 30 }) },
      { weight: 2, arbitrary: shortNastyString.map((s) => s.slice(0, 900)) },
      { weight: 1, arbitrary: fc.constant("\u0000".repeat(980)) },
      { weight: 1, arbitrary: fc.constant("<pad>") },
    ),
  )
  .map(([id, tail]) => (tail === "<pad>" ? `${SECRET_MARK}${id}`.padEnd(1024, "\u20AC") : `${SECRET_MARK}${id}${tail}`.slice(0, 1024)));

const role = fc.constantFrom(...DEFAULT_ALLOWED_ROLES);
const roles = fc.oneof({ weight: 9, arbitrary: fc.array(role, { minLength: 1, maxLength: 5 }) }, { weight: 1, arbitrary: fc.array(role, { minLength: 100, maxLength: 100 }) });
const tenant = fc.oneof(fc.constantFrom("acme", "acme-sandbox", "0", "a".repeat(63)), fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,62}$/));

const present = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined, freq: 2 });

function entriesOf(fields: Record<string, unknown>): Entries {
  return Object.entries(fields).flatMap(([key, value]): Entries => (value === undefined ? [] : [[key, JSON.stringify(value)]]));
}

const validCreate: fc.Arbitrary<Entries> = fc
  .record({ client_id: clientId, client_secret: secret, shape: fc.constantFrom("role", "roles", "both"), role, roles, tenant: present(tenant) })
  .map(({ shape, role, roles, ...rest }) => entriesOf({ ...rest, role: shape === "roles" ? undefined : role, roles: shape === "role" ? undefined : roles }));

const validReplace = (id: string): fc.Arbitrary<Entries> =>
  fc
    .record({ client_id: fc.option(fc.constant(id), { nil: undefined, freq: 4 }), client_secret: present(secret), role: present(role), roles: present(roles), tenant: present(tenant) })
    .map(entriesOf);

const badFieldValue = (field: string): fc.Arbitrary<string> => {
  const specific: Record<string, fc.Arbitrary<string>> = {
    client_id: fc.oneof(invalidClientId.map(jsonString), fc.constantFrom('"existing-1 "', '"EXISTING-1"')),
    client_secret: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('""', jsonString("s".repeat(1025)), jsonString("\u{1F600}".repeat(513))) }, { weight: 1, arbitrary: hugeString.map(jsonString) }),
    role: fc.constantFrom('"admin:all"', '"shipments:read "', '"SHIPMENTS:READ"', '""', jsonString("r".repeat(129)), '["shipments:read"]'),
    roles: fc.oneof(
      fc.constantFrom("[]", '["admin:all"]', '[""]', "[1]", "[null]", '"shipments:read"', '["shipments:read",{}]', '["shipments:read","admin:all"]', jsonString("x")),
      fc.constant(JSON.stringify(Array.from({ length: 101 }, () => "shipments:read"))),
      fc.array(shortNastyString, { minLength: 1, maxLength: 4 }).map((a) => JSON.stringify(a)),
    ),
    tenant: fc.constantFrom('"Acme"', '"-acme"', '""', jsonString("a".repeat(64)), '"acme_x"', '"acme sandbox"', '"\u00E4cme"'),
  };
  return fc.oneof({ weight: 3, arbitrary: specific[field]! }, { weight: 2, arbitrary: badValue });
};

const bodyMutations = mutations(mutationOf(FIELDS, badFieldValue));

const nonObjectBody = (valid: fc.Arbitrary<Entries>) =>
  fc.oneof(fc.constantFrom("null", "[]", "42", '"text"', "true", "{}"), valid.map((e) => `[${jsonObject(e)}]`), pollutionPayload);

const body = (valid: fc.Arbitrary<Entries>) =>
  fc.oneof(
    { weight: 12, arbitrary: fc.tuple(valid, bodyMutations).map(([entries, ms]) => jsonObject(mutate(entries, ms))) },
    { weight: 1, arbitrary: nonObjectBody(valid) },
  );

/** A POST or PUT with its body as JSON text: valid, mutated, or not an object at all. */
export const adminCase: fc.Arbitrary<AdminCase> = fc.oneof(
  body(validCreate).map((b): AdminCase => ({ op: "create", pathId: "", body: b })),
  pathId.chain((id) => body(validReplace(id)).map((b): AdminCase => ({ op: "replace", pathId: id, body: b }))),
);

// ---------------------------------------------------------------------------------------------
// The oracle

export type AdminExpectation =
  | { status: 201 | 200; clientId: string; roles?: string[]; tenant?: string }
  | { status: 400; wrong: Set<string> }
  | { status: 404 | 409 };

/** Code points: a surrogate pair counts once, a lone surrogate once. */
function codePoints(text: string): number {
  let count = text.length;
  for (let i = 0; i < text.length - 1; i++) {
    const unit = text.charCodeAt(i);
    const next = text.charCodeAt(i + 1);
    if (unit >= 0xd800 && unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      count -= 1;
      i += 1;
    }
  }
  return count;
}

/** Lengths count code points, as the API's schemas do. */
const isText = (value: unknown, min: number, max: number): value is string =>
  typeof value === "string" && codePoints(value) >= min && codePoints(value) <= max;

/**
 * What POST/PUT must answer for a parsed body. 400 carries every field that is actually wrong:
 * the API may name any of them, but none that is not.
 */
export function expectAdmin(c: Pick<AdminCase, "op" | "pathId">, body: unknown, ctx: { existing: ReadonlySet<string>; defaultTenant?: string }): AdminExpectation {
  const bad = (...fields: string[]): AdminExpectation => ({ status: 400, wrong: new Set(fields) });
  const create = c.op === "create";
  if (!create && !CLIENT_ID_RULE.test(c.pathId)) return bad("clientId");
  if (!isObject(body)) return bad("body");

  const wrong = new Set<string>();
  for (const key of Object.keys(body)) if (!(FIELDS as readonly string[]).includes(key)) wrong.add(key.slice(0, 64));
  const has = (key: string) => Object.hasOwn(body, key);
  const [id, sec, oneRole, manyRoles, ten] = FIELDS.map((key) => own(body, key));
  if (create ? !(typeof id === "string" && CLIENT_ID_RULE.test(id)) : has("client_id") && !(typeof id === "string" && CLIENT_ID_RULE.test(id))) wrong.add("client_id");
  if ((create || has("client_secret")) && !isText(sec, 1, 1024)) wrong.add("client_secret");
  if (has("role") && !isText(oneRole, 1, 128)) wrong.add("role");
  if (has("roles") && !(Array.isArray(manyRoles) && manyRoles.length <= 100 && manyRoles.every((r) => isText(r, 1, 128)))) wrong.add("roles");
  if (has("tenant") && !(typeof ten === "string" && TENANT_RULE.test(ten))) wrong.add("tenant");
  if (wrong.size > 0) return { status: 400, wrong };

  if (!create && has("client_id") && id !== c.pathId) return bad("client_id");
  const given = has("role") || has("roles");
  if (create && !given) return bad("role");
  const set = [...new Set([...(has("role") ? [oneRole as string] : []), ...(has("roles") ? (manyRoles as string[]) : [])])];
  if (given && set.length === 0) return bad("roles");
  const unknownRole = has("role") && !ALLOWED.has(oneRole as string);
  const unknownInRoles = has("roles") && (manyRoles as string[]).some((r) => !ALLOWED.has(r));
  if (unknownRole || unknownInRoles) return bad(...(unknownRole ? ["role"] : []), ...(unknownInRoles ? ["roles"] : []));
  if (create) {
    const t = (ten as string | undefined) ?? ctx.defaultTenant;
    if (t === undefined) return bad("tenant");
    if (ctx.existing.has(id as string)) return { status: 409 };
    return { status: 201, clientId: id as string, roles: set, tenant: t };
  }
  if (!has("client_secret") && !given && !has("tenant")) return bad("body");
  if (!ctx.existing.has(c.pathId)) return { status: 404 };
  return { status: 200, clientId: c.pathId, ...(given ? { roles: set } : {}), ...(has("tenant") ? { tenant: ten as string } : {}) };
}

/** The names a 400's `fields` uses: a field, or an element of one ("roles.3"). */
export function fieldsOutsideWrong(fields: Record<string, string> | undefined, wrong: ReadonlySet<string>): string[] {
  return Object.keys(fields ?? {}).filter((key) => !wrong.has(key) && !wrong.has(key.split(".")[0]!));
}

/** The secrets a body carries (by their mark), so output can be searched for each. */
export function secretsIn(bodyText: string): string[] {
  const marks = bodyText.match(new RegExp(`${SECRET_MARK}[0-9a-f-]{36}`, "g"));
  return [...new Set(marks ?? [])];
}
