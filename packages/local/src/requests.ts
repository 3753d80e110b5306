// Publishing token.requested as a consumer does, for the tools that simulate many consumers
// (tests, the demo, benchmarks). Callers choose the pace: all chunks at once, or one by one.
import { type EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { DetailType } from "@newstore-auth/core/settings";

/** PutEvents takes at most 10 entries. */
export function chunksOf<T>(items: readonly T[], size = 10): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

/** One PutEvents of up to 10 token.requested; throws when any entry was rejected. */
export async function putTokenRequests(events: EventBridgeClient, busName: string, source: string, details: readonly object[]): Promise<void> {
  const out = await events.send(
    new PutEventsCommand({
      Entries: details.map((detail) => ({ EventBusName: busName, Source: source, DetailType: DetailType.requested, Detail: JSON.stringify(detail) })),
    }),
  );
  if (out.FailedEntryCount) throw new Error(`PutEvents rejected ${out.FailedEntryCount} of ${details.length} token.requested`);
}
