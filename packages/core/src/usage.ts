// When each client was last requested: scheduled refresh keeps only recently used clients warm.
// Memory is authoritative while the container lives (the broker is the only writer); SSM keeps
// it across cold starts, written at most once per client per interval to spare PutParameter.
import type { Clock, Logger, ParameterStore } from "./ports.js";
import { type Names, usageParameterName, usageParameterPath } from "./settings.js";
import { ClientId } from "./schemas.js";
import { safeJson } from "./messages.js";

export interface UsageTracker {
  touch(clientId: string): Promise<void>;
  /** The client is gone (its parameter is removed by the caller). */
  forget(clientId: string): void;
  /** Clients requested within the window, most recent first. */
  active(windowMs: number): Promise<string[]>;
}

export function createUsageTracker(
  names: Pick<Names, "parameterPrefix">,
  ports: { parameters: ParameterStore; clock: Clock; log: Logger },
  writeIntervalMs: number,
): UsageTracker {
  const { parameters, clock, log } = ports;
  const lastRequested = new Map<string, number>();
  const persisted = new Map<string, number>();
  let loaded = false;

  async function load() {
    if (loaded) return;
    for (const { name, value } of await parameters.getByPath(usageParameterPath(names))) {
      const record = safeJson(value) as { clientId?: unknown; lastRequestedAt?: unknown } | undefined;
      const at = typeof record?.lastRequestedAt === "string" ? Date.parse(record.lastRequestedAt) : Number.NaN;
      const clientId = ClientId.safeParse(record?.clientId);
      if (!clientId.success || Number.isNaN(at)) {
        log.warn("unreadable usage record ignored", { parameterName: name });
        continue;
      }
      persisted.set(clientId.data, at);
      lastRequested.set(clientId.data, Math.max(at, lastRequested.get(clientId.data) ?? 0));
    }
    loaded = true;
  }

  return {
    async touch(clientId) {
      const now = clock.now();
      lastRequested.set(clientId, now);
      if (now - (persisted.get(clientId) ?? Number.NEGATIVE_INFINITY) < writeIntervalMs) return;
      try {
        const value = JSON.stringify({ clientId, lastRequestedAt: new Date(now).toISOString() });
        await parameters.put(usageParameterName(names, clientId), value, { plain: true });
        persisted.set(clientId, now);
      } catch (error) {
        log.warn("could not record usage; scheduled refresh may skip this client", { clientId, error: (error as Error).name });
      }
    },
    forget(clientId) {
      lastRequested.delete(clientId);
      persisted.delete(clientId);
    },
    async active(windowMs) {
      await load();
      const since = clock.now() - windowMs;
      return [...lastRequested]
        .filter(([, at]) => at >= since)
        .sort((a, b) => b[1] - a[1])
        .map(([clientId]) => clientId);
    },
  };
}
