// In-memory ConsumerPorts for unit tests of the client's logic (integration tests use moto).
import type { TokenRequested } from "@newstore-auth/core/schemas";
import { BROKER_SOURCE } from "@newstore-auth/core/settings";
import type { ConsumerPorts, Reply } from "../src/ports.js";

export const PREFIX = "/newstore-auth/unit";
export const T0 = Date.parse("2026-12-04T12:00:00.000Z");

/** Time flows as real time plus jumps the test makes with advance(). */
export class FakeAws implements ConsumerPorts {
  private readonly started = Date.now();
  offsetMs = 0;
  readonly params = new Map<string, Array<{ value: string; version: number }>>();
  readonly published: TokenRequested[] = [];
  readonly replies: unknown[] = [];
  reads = 0;
  /** What the "broker" does with each request; by default nothing (a timeout). */
  onPublish: (request: TokenRequested) => void = () => {};

  now = () => T0 + (Date.now() - this.started) + this.offsetMs;
  advance(seconds: number) {
    this.offsetMs += seconds * 1000;
  }

  async readParameter(name: string) {
    this.reads += 1;
    const [base, version] = name.split(":");
    const versions = this.params.get(base!) ?? [];
    return version ? versions.find((v) => v.version === Number(version)) : versions.at(-1);
  }
  async publishRequest(detail: TokenRequested) {
    this.published.push(detail);
    queueMicrotask(() => this.onPublish(detail));
  }
  async receiveReplies(): Promise<Reply[]> {
    if (this.replies.length === 0) await new Promise((r) => setTimeout(r, 5));
    return this.replies.splice(0).map((envelope) => ({ envelope, ack: async () => {} }));
  }
  sleep(ms: number, signal?: AbortSignal) {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      signal?.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
    });
  }

  /** The broker's write: a new version of tokens/{clientId}, valid for `seconds` from now. */
  writeToken(clientId: string, seconds = 3600): { version: number; expiresAt: string; accessToken: string } {
    const name = `${PREFIX}/tokens/${clientId}`;
    const versions = this.params.get(name) ?? [];
    const version = (versions.at(-1)?.version ?? 0) + 1;
    const accessToken = `at-${clientId}-${version}`;
    const expiresAt = new Date(this.now() + seconds * 1000).toISOString();
    const value = { clientId, accessToken, tokenType: "Bearer", scope: "", issuedAt: new Date(this.now()).toISOString(), expiresAt };
    versions.push({ value: JSON.stringify(value), version });
    this.params.set(name, versions);
    return { version, expiresAt, accessToken };
  }

  reply(detailType: string, detail: object) {
    this.replies.push({ version: "0", id: "e", "detail-type": detailType, source: BROKER_SOURCE, detail });
  }

  /** A broker that answers every request: writes a token and replies token.ready. */
  answerEveryRequest(seconds = 3600) {
    this.onPublish = (request) => {
      const { version, expiresAt } = this.writeToken(request.clientId, seconds);
      this.reply("token.ready", {
        requestId: request.requestId,
        clientId: request.clientId,
        requester: request.requester,
        parameterName: `${PREFIX}/tokens/${request.clientId}`,
        parameterVersion: version,
        expiresAt,
      });
    };
  }
}
