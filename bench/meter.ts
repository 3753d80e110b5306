// Counts AWS calls by party (consumers, broker, …) and operation (`SSM.GetParameter`). Clients the
// benchmark creates are counted by an SDK middleware; the broker's own clients, which the real
// handler creates inside createBrokerFromEnv, reach moto through a counting pass-through proxy.
import { createServer, request, Agent, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export type Party = "consumers" | "broker" | "poller" | "schedule" | "setup";
export type Counts = Record<string, number>;

export interface CallSummary {
  ssmReads: number;
  ssmWrites: number;
  putEvents: number;
  sqsCalls: number;
  /** Every call by operation, e.g. `SSM.GetParameter`. */
  byOperation: Counts;
}

const SSM_READS = ["SSM.GetParameter", "SSM.GetParameters", "SSM.GetParametersByPath"];

export class Meter {
  private counts = new Map<Party, Counts>();

  count(party: Party, operation: string) {
    const counts = this.counts.get(party) ?? {};
    counts[operation] = (counts[operation] ?? 0) + 1;
    this.counts.set(party, counts);
  }

  reset() {
    this.counts.clear();
  }

  /** Calls made so far by the parties named (all of them when none are). */
  summary(...parties: Party[]): CallSummary {
    const byOperation: Counts = {};
    for (const [party, counts] of this.counts) {
      if (parties.length > 0 && !parties.includes(party)) continue;
      for (const [op, n] of Object.entries(counts)) byOperation[op] = (byOperation[op] ?? 0) + n;
    }
    const sum = (ops: string[]) => ops.reduce((s, op) => s + (byOperation[op] ?? 0), 0);
    return {
      ssmReads: sum(SSM_READS),
      ssmWrites: sum(["SSM.PutParameter"]),
      putEvents: sum(["EventBridge.PutEvents"]),
      sqsCalls: sum(Object.keys(byOperation).filter((op) => op.startsWith("SQS."))),
      byOperation,
    };
  }

  /** Counts every call `client` sends (once per attempt: clients here use maxAttempts 1). */
  instrument<C extends { middlewareStack: { add: Function } }>(client: C, party: Party): C {
    const add = client.middlewareStack.add.bind(client.middlewareStack) as (
      mw: (next: (args: unknown) => Promise<unknown>, context: { clientName?: string; commandName?: string }) => (args: unknown) => Promise<unknown>,
      options: { step: string; name: string },
    ) => void;
    add(
      (next, context) => async (args) => {
        this.count(party, `${short(context.clientName, "Client")}.${short(context.commandName, "Command")}`);
        return next(args);
      },
      { step: "finalizeRequest", name: "benchMeter" },
    );
    return client;
  }

  /**
   * A pass-through proxy to `upstream` that counts each call under `party` by its X-Amz-Target
   * (SSM, EventBridge and SQS speak the JSON protocol). Point AWS_ENDPOINT_URL at it.
   */
  async proxy(upstream: string, party: Party): Promise<{ url: string; close(): Promise<void> }> {
    const target = new URL(upstream);
    const agent = new Agent({ keepAlive: true });
    const services: Record<string, string> = { AmazonSSM: "SSM", AWSEvents: "EventBridge", AmazonSQS: "SQS" };
    const server: Server = createServer((req, res) => {
      const [service = "", operation = "unknown"] = String(req.headers["x-amz-target"] ?? "").split(".");
      this.count(party, `${services[service] ?? (service || "unknown")}.${operation}`);
      const upstreamRequest = request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent },
        (upstreamResponse) => {
          res.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
          upstreamResponse.pipe(res);
        },
      );
      upstreamRequest.on("error", () => res.destroy());
      req.pipe(upstreamRequest);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}`,
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
          agent.destroy();
        }),
    };
  }
}

const short = (name: string | undefined, suffix: string) => (name ?? "unknown").replace(new RegExp(`${suffix}$`), "");
