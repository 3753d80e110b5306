import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createBroker } from "../src/broker.js";
import type { Metrics } from "../src/ports.js";
import { redact } from "../src/redact.js";
import { credentialsParameterName, namesFor } from "../src/settings.js";
import { CapturingLogger, credentials, FakeClock, MemoryParameters, RecordingPublisher, rejected, requestMessage, ScriptedIssuer } from "./memory-ports.js";

describe("redact", () => {
  it("replaces secret-named keys at any depth, keeps the rest", () => {
    const input = {
      clientId: "a",
      clientSecret: "s1",
      nested: { client_secret: "s2", list: [{ accessToken: "t1" }, { access_token: "t2", ok: 1 }], Authorization: "Bearer t3" },
      error: new Error("boom"),
    };
    const out = redact(input);
    expect(JSON.stringify(out)).not.toMatch(/s1|s2|t1|t2|t3/);
    expect(out).toEqual({
      clientId: "a",
      clientSecret: "[redacted]",
      nested: { client_secret: "[redacted]", list: [{ accessToken: "[redacted]" }, { access_token: "[redacted]", ok: 1 }], Authorization: "[redacted]" },
      error: { name: "Error", message: "boom" },
    });
    expect(input.clientSecret).toBe("s1"); // the caller's object is untouched
  });
});

describe("broker metrics and correlation", () => {
  it("counts NewStore calls by outcome, answers by result, serving by source, batch sizes and token age", async () => {
    const clock = new FakeClock();
    const parameters = new MemoryParameters();
    const counts: Array<[string, number, string]> = [];
    const observed: Array<[string, number]> = [];
    const metrics: Metrics = {
      count: (name, value, d) => void counts.push([name, value, d ? `${d.name}=${d.value}` : ""]),
      observe: (name, value) => void observed.push([name, value]),
    };
    const newstore = new ScriptedIssuer();
    const log = new CapturingLogger();
    const names = namesFor("metrics");
    for (const id of ["a", "b"]) await parameters.put(credentialsParameterName(names, id), JSON.stringify(credentials(id, clock.now())));
    const broker = createBroker({ names }, { parameters, events: new RecordingPublisher(), newstore, clock, log, metrics });
    const req = (clientId: string) => requestMessage({ requestId: randomUUID(), clientId, requester: "r" });

    newstore.script = [rejected()];
    await broker.handleBatch([req("a"), req("a"), req("b"), req("nobody")]);
    clock.advance(90);
    await broker.handleBatch([req("b"), req("b")]);

    const sum = (name: string, dim: string) => counts.filter(([n, , d]) => n === name && d === dim).reduce((t, [, v]) => t + v, 0);
    expect(sum("NewStoreCalls", "Outcome=NEWSTORE_REJECTED")).toBe(1);
    expect(sum("NewStoreCalls", "Outcome=ok")).toBe(1);
    expect(sum("RequestsAnswered", "Result=NEWSTORE_REJECTED")).toBe(2);
    expect(sum("RequestsAnswered", "Result=UNKNOWN_CLIENT")).toBe(1);
    expect(sum("RequestsAnswered", "Result=ready")).toBe(3);
    expect(sum("TokensServed", "Source=newstore")).toBe(1);
    expect(sum("TokensServed", "Source=memory")).toBe(2);
    expect(observed.filter(([n]) => n === "BatchSize").map(([, v]) => v)).toEqual([4, 2]);
    expect(observed.filter(([n]) => n === "TokenAgeSeconds").map(([, v]) => v)).toEqual([0, 90, 90]);

    // every line about requests names them
    const lines = log.lines.filter((l) => /token (served|refreshed|request failed)/.test(l.message));
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const line of lines) expect(line.attributes?.requestIds).toEqual(expect.arrayContaining([expect.any(String)]));
  });
});
