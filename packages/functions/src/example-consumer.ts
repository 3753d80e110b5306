// Example integration Lambda (stacks/ExampleConsumerStack.ts): gets a NewStore token through the
// broker and makes one read-only NewStore call with it. The token is never logged or returned.
import { createTokenClientFromEnv } from "@newstore-auth/client";

// Module scope: the client keeps the token across invocations while it stays valid.
const tokens = createTokenClientFromEnv();

export async function handler(): Promise<{ ok: boolean; status: number }> {
  const tenant = process.env.NEWSTORE_TENANT;
  if (!tenant) throw new Error("NEWSTORE_TENANT is not set (deploy with it set in the shell)");
  const token = await tokens.getToken("example-client");
  // Any read-only endpoint the client's roles allow; this one needs customer:profile:read.
  const response = await fetch(`https://${encodeURIComponent(tenant)}.api.p.newstore.net/api/v1/customer/profiles?count=1`, {
    headers: { Authorization: `Bearer ${token.accessToken}`, Accept: "application/json" },
    signal: AbortSignal.timeout(10_000),
  });
  await response.body?.cancel(); // the example only reports the status, never customer data
  console.log(JSON.stringify({ message: "NewStore call", status: response.status, tokenExpiresAt: token.expiresAt }));
  return { ok: response.ok, status: response.status };
}
