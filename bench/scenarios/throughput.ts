// broker throughput: requests/s through createBroker with in-memory ports (batches of 10 over 100
// clients, memory warm so no NewStore call), and through the real handler behind the poller on moto.
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { createBroker, credentialsParameterName, type EventPublisher, namesFor, type QueueMessage, silentLogger } from "@newstore-auth/core";
import { chunksOf, putTokenRequests } from "@newstore-auth/local/requests";
import { credentials, FakeClock, MemoryParameters, requestMessage, ScriptedIssuer } from "../../packages/core/test/memory-ports.js";
import type { BenchConfig } from "../config.js";
import { round } from "../stats.js";
import { REQUESTER, type World } from "../world.js";

export interface MemoryThroughput {
  clients: number;
  batchSize: number;
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  /** CPU time (user + system) over wall time: about 1 on one core. */
  cpuPerWall: number;
  newstoreCallsWhileTimed: number;
}

export interface MotoThroughput {
  clients: number;
  requests: number;
  /** Wall time from starting the poller on a preloaded queue until every request was handled. */
  seconds: number;
  requestsPerSecond: number;
  /** Real time inside the handler (its awaits on moto included); the rest is the poller's receive and delete. */
  handlerSeconds: number;
  handlerRequestsPerSecond: number;
  newstoreCallsWhileTimed: number;
}

export async function memoryThroughput(config: BenchConfig["throughput"], progress: (line: string) => void): Promise<MemoryThroughput> {
  const { clients, batchSize, memoryBatches } = config;
  const names = namesFor("bench");
  const clock = new FakeClock(Date.now());
  const parameters = new MemoryParameters();
  const ids = Array.from({ length: clients }, (_, i) => `client-${i}`);
  for (const id of ids) await parameters.put(credentialsParameterName(names, id), JSON.stringify(credentials(id, clock.now())));
  const newstore = new ScriptedIssuer();
  let published = 0;
  const events: EventPublisher = {
    async publish(list) {
      published += list.length;
      return { failed: [] };
    },
  };
  const broker = createBroker({ names }, { parameters, events, newstore, clock, log: silentLogger });
  const request = (clientId: string) => requestMessage({ requestId: randomUUID(), clientId, requester: REQUESTER });

  for (let i = 0; i < ids.length; i += batchSize) await broker.handleBatch(ids.slice(i, i + batchSize).map(request)); // warm memory
  const random = mulberry32(6);
  const pool: QueueMessage[][] = Array.from({ length: 1000 }, () => Array.from({ length: batchSize }, () => request(ids[Math.floor(random() * ids.length)]!)));
  for (let b = 0; b < Math.min(5_000, memoryBatches); b += 1) await broker.handleBatch(pool[b % pool.length]!); // JIT
  const calls = newstore.calls.length;

  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let b = 0; b < memoryBatches; b += 1) await broker.handleBatch(pool[b % pool.length]!);
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const requests = memoryBatches * batchSize;
  const result: MemoryThroughput = {
    clients,
    batchSize,
    requests,
    seconds: round(seconds),
    requestsPerSecond: Math.round(requests / seconds),
    cpuPerWall: round((used.user + used.system) / 1e6 / seconds, 2),
    newstoreCallsWhileTimed: newstore.calls.length - calls,
  };
  if (published < requests) throw new Error(`the broker answered ${published} of ${requests} requests`);
  progress(`throughput in memory: ${result.requestsPerSecond} requests/s (${requests} requests in ${result.seconds} s)`);
  return result;
}

export async function motoThroughput(world: World, config: BenchConfig["throughput"], progress: (line: string) => void): Promise<MotoThroughput> {
  const { motoClients, motoRequests } = config;
  const provisioned = await world.fresh();
  const ids = Array.from({ length: motoClients }, (_, i) => `client-${i}`);
  for (const id of ids) await world.register(id);
  const broker = world.deployBroker(provisioned);
  const aws = world.clients("consumers");
  const publish = async (clientIds: string[]) => {
    for (const chunk of chunksOf(clientIds)) {
      const details = chunk.map((clientId) => ({ requestId: randomUUID(), clientId, requester: REQUESTER }));
      await putTokenRequests(aws.events, world.names.busName, REQUESTER, details);
    }
  };
  try {
    await publish(ids); // warm: one NewStore call per client, then memory
    await broker.handled(ids.length);
    await broker.pause();
    const warmCalls = world.sandbox.calls();

    const random = mulberry32(7);
    await publish(Array.from({ length: motoRequests }, () => ids[Math.floor(random() * ids.length)]!));
    for (let waited = 0; (await queued(world, provisioned.resources.requestQueue.url)) < motoRequests; waited += 1) {
      if (waited > 600) throw new Error("the preloaded requests did not reach the broker's queue");
      await new Promise((r) => setTimeout(r, 50));
    }
    const inside = broker.handlerMs();
    const started = performance.now();
    broker.resume();
    await broker.handled(ids.length + motoRequests, 600_000);
    const seconds = (performance.now() - started) / 1000;
    const handlerSeconds = (broker.handlerMs() - inside) / 1000;
    const result: MotoThroughput = {
      clients: motoClients,
      requests: motoRequests,
      seconds: round(seconds),
      requestsPerSecond: round(motoRequests / seconds, 1),
      handlerSeconds: round(handlerSeconds),
      handlerRequestsPerSecond: round(motoRequests / handlerSeconds, 1),
      newstoreCallsWhileTimed: world.sandbox.calls() - warmCalls,
    };
    progress(`throughput on moto: ${result.requestsPerSecond} requests/s end to end, ${result.handlerRequestsPerSecond} requests/s of handler time`);
    return result;
  } finally {
    aws.destroy();
    await broker.stop();
  }
}

async function queued(world: World, url: string): Promise<number> {
  const sqs = world.clients("setup");
  try {
    const { Attributes } = await sqs.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["ApproximateNumberOfMessages"] }));
    return Number(Attributes?.ApproximateNumberOfMessages ?? 0);
  } finally {
    sqs.destroy();
  }
}

/** A small seeded PRNG: the same requests every run. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
