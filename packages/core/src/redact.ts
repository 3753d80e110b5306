// Log attributes pass through this before any logger writes them: a secret or a token put in a
// log line by mistake (or by a future change) comes out as "[redacted]".
const SECRET_KEYS = /^(clientsecret|client_secret|accesstoken|access_token|authorization|x-api-key|apikey)$/i;

export function redact<T>(value: T, depth = 0): T {
  if (depth > 8 || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1)) as T;
  if (value instanceof Error) return { name: value.name, message: value.message } as T;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) out[key] = SECRET_KEYS.test(key) ? "[redacted]" : redact(v, depth + 1);
  return out as T;
}
