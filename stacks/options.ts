// Deploy-time options of the stacks that only the stacks read (the functions never see them), so
// they live here rather than in core's settings. Set them in the deploying shell.

export const StackEnv = {
  /** `iam`: the admin API also requires SigV4 (IAM) on every method but GET /health. */
  adminAuth: "NEWSTORE_AUTH_ADMIN_AUTH",
  /** An address: the alarms notify it through an SNS topic (email subscription). */
  alarmEmail: "NEWSTORE_AUTH_ALARM_EMAIL",
} as const;

/**
 * How the admin API authorizes callers. `api-key`: the `x-api-key` header (DESIGN's contract).
 * `api-key+iam`: the key AND a SigV4 signature of an identity allowed `execute-api:Invoke`.
 */
export type AdminAuthorization = "api-key" | "api-key+iam";

export function adminAuthorization(value: string | undefined): AdminAuthorization {
  const mode = (value ?? "").trim().toLowerCase();
  if (mode === "" || mode === "api-key") return "api-key";
  if (mode === "iam") return "api-key+iam";
  throw new Error(`${StackEnv.adminAuth} must be unset, "api-key" or "iam", got ${JSON.stringify(value)}`);
}

/** The alarm address, if any: one address, checked enough to catch a typo'd variable. */
export function alarmEmail(value: string | undefined): string | undefined {
  const address = (value ?? "").trim();
  if (address === "") return undefined;
  if (!/^[^\s@,;]+@[^\s@,;]+\.[^\s@,;]+$/.test(address)) {
    throw new Error(`${StackEnv.alarmEmail} must be one email address, got ${JSON.stringify(value)}`);
  }
  return address;
}
