import { type EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from "@aws-sdk/client-eventbridge";
import type { EventPublisher, Logger } from "../ports.js";
import { silentLogger } from "../ports.js";
import { BROKER_SOURCE } from "../settings.js";

const CHUNK = 10; // PutEvents takes at most 10 entries

export interface EventBridgePublisherOptions {
  busName: string;
  source?: string;
  /** Rounds of retrying the entries that failed; what still fails is reported back. */
  retries?: number;
  retryDelayMs?: number;
  log?: Logger;
}

export function eventBridgePublisher(client: EventBridgeClient, options: EventBridgePublisherOptions): EventPublisher {
  const { busName, source = BROKER_SOURCE, retries = 3, retryDelayMs = 100, log = silentLogger } = options;
  return {
    async publish(events) {
      const entries: PutEventsRequestEntry[] = events.map((e) => ({
        EventBusName: busName,
        Source: source,
        DetailType: e.detailType,
        Detail: JSON.stringify(e.detail),
      }));
      let pending = entries.map((_, index) => index);
      for (let round = 0; pending.length > 0 && round <= retries; round += 1) {
        if (round > 0) await new Promise((r) => setTimeout(r, retryDelayMs * 2 ** (round - 1)));
        const failed: number[] = [];
        for (let i = 0; i < pending.length; i += CHUNK) {
          const chunk = pending.slice(i, i + CHUNK);
          try {
            const out = await client.send(new PutEventsCommand({ Entries: chunk.map((index) => entries[index]!) }));
            if (!out.FailedEntryCount) continue;
            out.Entries?.forEach((entry, j) => {
              if (entry.ErrorCode) failed.push(chunk[j]!);
            });
          } catch (error) {
            log.warn("PutEvents call failed", { entries: chunk.length, error: (error as Error).name });
            failed.push(...chunk);
          }
        }
        pending = failed;
      }
      return { failed: pending };
    },
  };
}
