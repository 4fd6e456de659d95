/**
 * The ingress's own Publish RPC (functions/ingress/publish-rpc.ts) against the Pub/Sub
 * emulator: what it publishes arrives byte-exact, a missing topic fails at once, and
 * connections cut by a real TCP proxy mid-request lose nothing. TLS and credentials, which
 * the emulator does not use, are in ingress-publish-rpc-tls.test.ts.
 */
import crypto from "node:crypto";
import { PubSub } from "@google-cloud/pubsub";
import { GrpcCallError } from "../../functions/ingress/grpc-unary";
import { endpointOf, PublishQueue, PublishRpc } from "../../functions/ingress/publish-rpc";
import type { WireMessage } from "../../functions/ingress/publish-wire";
import { localProjectId, parseEnvironmentName } from "../../shared/environment";
import { type CuttingProxy, startCuttingProxy } from "../support/cutting-proxy";
import { until } from "../support/poll";
import { type PulledMessage, pullMessages } from "../support/pull";
import { requireEmulators, runningEmulatorEndpoints, uniqueEnvironmentName } from "../support/test-environment";

const projectId = localProjectId(parseEnvironmentName(uniqueEnvironmentName("rpc")));
let pubsub: PubSub;
let proxy: CuttingProxy;
const rpcs: PublishRpc[] = [];

beforeAll(async () => {
  requireEmulators();
  pubsub = new PubSub({ projectId });
  const [host, port] = runningEmulatorEndpoints().pubsub.split(":");
  proxy = await startCuttingProxy({ host: host as string, port: Number(port) });
});

afterAll(async () => {
  for (const rpc of rpcs) rpc.close();
  await proxy.close();
  await pubsub.close();
});

/** A fresh topic with one subscription; its full topic name. */
async function freshTopic(): Promise<{ topic: string; subscription: string }> {
  const name = `audio-${crypto.randomBytes(4).toString("hex")}`;
  const [topic] = await pubsub.createTopic(name);
  await topic.createSubscription(`${name}-sub`);
  return { topic: topic.name, subscription: `${name}-sub` };
}

/** A PublishRpc with `client`'s endpoint (the emulator, or the proxy in front of it). */
function rpcFor(topic: string, client: PubSub = pubsub): PublishRpc {
  const rpc = new PublishRpc(endpointOf(client), topic);
  rpcs.push(rpc);
  return rpc;
}

/** The same client settings, through the proxy. */
function proxiedClient(): PubSub {
  return new PubSub({ projectId, apiEndpoint: proxy.hostPort });
}

function chunk(size: number, index: number): WireMessage {
  return { data: crypto.randomBytes(size), attributes: { chunk_index: String(index), codec: "pcm16" } };
}

const hash = (data: Buffer): string => crypto.createHash("sha256").update(data).digest("hex");

/** Pulls until every one of `expected` arrived (duplicates allowed); the pulled messages. */
async function pullAll(subscription: string, expected: readonly WireMessage[]): Promise<PulledMessage[]> {
  const wanted = new Set(expected.map((message) => hash(message.data)));
  const pulled: PulledMessage[] = [];
  for (;;) {
    const seen = new Set(pulled.map((message) => hash(message.data)));
    const missing = [...wanted].filter((digest) => !seen.has(digest)).length;
    if (missing === 0) return pulled;
    const batch = await pullMessages(pubsub, subscription, { count: missing, quietMs: 3000 });
    if (batch.length === 0) throw new Error(`${missing} of ${wanted.size} messages never arrived`);
    pulled.push(...batch);
  }
}

/** Every expected message arrived with its attributes, and nothing else did. */
function expectDelivered(pulled: readonly PulledMessage[], expected: readonly WireMessage[]): void {
  const byHash = new Map(expected.map((message) => [hash(message.data), message]));
  for (const message of pulled) {
    const original = byHash.get(hash(message.data));
    expect(original).toBeDefined();
    expect(message.attributes).toEqual(original?.attributes);
  }
  expect(new Set(pulled.map((message) => hash(message.data))).size).toBe(expected.length);
}

test("published messages arrive byte-exact with their attributes, under the ids returned", async () => {
  const { topic, subscription } = await freshTopic();
  const rpc = rpcFor(topic);
  const first = [chunk(320_000, 0), chunk(1, 1), { data: Buffer.from("é😀"), attributes: { clé: "välue 😀" } }];
  const second = [chunk(3 * 1024 * 1024, 3)];
  const ids = [...(await rpc.publish(first)), ...(await rpc.publish(second))];
  const sent = [...first, ...second];
  const pulled = await pullAll(subscription, sent);
  expectDelivered(pulled, sent);
  const hashById = new Map(pulled.map((message) => [message.id, hash(message.data)]));
  expect(ids.map((id) => hashById.get(id))).toEqual(sent.map((message) => hash(message.data)));
});

test("a topic that does not exist rejects at once with NOT_FOUND, not retried", async () => {
  const rpc = rpcFor(`projects/${projectId}/topics/missing-${crypto.randomBytes(4).toString("hex")}`);
  const failure = await rpc.publish([chunk(10, 0)]).catch((error: unknown) => error);
  expect(failure).toBeInstanceOf(GrpcCallError);
  expect((failure as GrpcCallError).code).toBe(5);
  expect((failure as GrpcCallError).retryable).toBe(false);
}, 5_000);

describe("through a proxy that cuts connections", () => {
  afterEach(() => proxy.heal());

  test("a connection reset in the middle of a request: the publish is retried on a new one", async () => {
    const { topic, subscription } = await freshTopic();
    const rpc = rpcFor(topic, proxiedClient());
    const before = proxy.connections();
    // 4 MB in one request; the cut lands after about 1 MB of it.
    proxy.cutNextAfter(1024 * 1024);
    const messages = [0, 1, 2, 3].map((i) => chunk(1024 * 1024, i));
    const ids = await rpc.publish(messages);
    expect(ids).toHaveLength(4);
    expect(proxy.connections() - before).toBe(2);
    expectDelivered(await pullAll(subscription, messages), messages);
  });

  test("every live connection reset with requests in flight: all resolve, nothing is lost", async () => {
    const { topic, subscription } = await freshTopic();
    const rpc = rpcFor(topic, proxiedClient());
    const before = proxy.connections();
    const startBytes = proxy.clientBytes();
    const messages = Array.from({ length: 12 }, (_, i) => chunk(512 * 1024, i));
    const published = messages.map((message) => rpc.publish([message]));
    await until("part of the requests to pass the proxy", () => proxy.clientBytes() - startBytes > 1024 * 1024);
    proxy.cutAll();
    const ids = await Promise.all(published);
    expect(ids.flat()).toHaveLength(12);
    expect(proxy.connections() - before).toBeGreaterThanOrEqual(2);
    expectDelivered(await pullAll(subscription, messages), messages);
  });

  test("a connection gone silent (no RST, no GOAWAY): the retry after the deadline takes a new one", async () => {
    const { topic, subscription } = await freshTopic();
    const rpc = new PublishRpc(endpointOf(proxiedClient()), topic, { attemptMs: 500 });
    rpcs.push(rpc);
    const first = [chunk(100, 0)];
    await rpc.publish(first);
    const before = proxy.connections();
    proxy.stallAll();
    const messages = [chunk(1000, 1), chunk(2000, 2)];
    const ids = await Promise.all(messages.map((message) => rpc.publish([message])));
    expect(ids.flat()).toHaveLength(2);
    expect(proxy.connections() - before).toBeGreaterThanOrEqual(1);
    expectDelivered(await pullAll(subscription, [...first, ...messages]), [...first, ...messages]);
  }, 10_000);

  test.each(["reset", "end"] as const)(
    "new connections refused (%s) for a while: publishes resolve once the network heals",
    async (how) => {
      const { topic, subscription } = await freshTopic();
      const rpc = rpcFor(topic, proxiedClient());
      proxy.refuse(how);
      const before = proxy.connections();
      const messages = [chunk(1000, 0), chunk(2000, 1)];
      let settled = false;
      const published = Promise.all(messages.map((message) => rpc.publish([message]))).finally(() => {
        settled = true;
      });
      await until("two refused attempts", () => proxy.connections() - before >= 2);
      expect(settled).toBe(false);
      proxy.heal();
      expect((await published).flat()).toHaveLength(2);
      expectDelivered(await pullAll(subscription, messages), messages);
    },
  );
});

/** A PublishRpc that records how many messages each request carried. */
class CountingRpc extends PublishRpc {
  readonly requests: number[] = [];

  override publish(messages: readonly WireMessage[]): Promise<string[]> {
    this.requests.push(messages.length);
    return super.publish(messages);
  }
}

describe("PublishQueue", () => {
  let topic: string;
  let subscription: string;
  let rpc: CountingRpc;

  beforeEach(async () => {
    ({ topic, subscription } = await freshTopic());
    rpc = new CountingRpc(endpointOf(pubsub), topic);
    rpcs.push(rpc);
  });

  test("messages within the window share one request; a window of 0 sends at once", async () => {
    const queue = new PublishQueue(rpc, { maxMessages: 100, maxBytes: 4 * 1024 * 1024 });
    const gathered = [chunk(100, 0), chunk(200, 1), chunk(300, 2)];
    const ids = await Promise.all(gathered.map((message) => queue.publish(message, 20)));
    expect(rpc.requests).toEqual([3]);
    expect(new Set(ids).size).toBe(3);

    // The window-0 message takes what waits with it, and goes before any timer fires.
    const late = [chunk(10, 3), chunk(10, 4)];
    const waiting = queue.publish(late[0] as WireMessage, 60_000);
    const now = queue.publish(late[1] as WireMessage, 0);
    expect(rpc.requests).toEqual([3, 2]);
    await Promise.all([waiting, now]);
    expectDelivered(await pullAll(subscription, [...gathered, ...late]), [...gathered, ...late]);
  });

  test("maxMessages and maxBytes split requests; flush sends the rest and waits for all", async () => {
    const byCount = new PublishQueue(rpc, { maxMessages: 2, maxBytes: 4 * 1024 * 1024 });
    const messages = Array.from({ length: 5 }, (_, i) => chunk(100, i));
    let settled = 0;
    const counted = messages.map((message) => byCount.publish(message, 60_000).then(() => (settled += 1)));
    expect(rpc.requests).toEqual([2, 2]);
    await byCount.flush();
    expect(rpc.requests).toEqual([2, 2, 1]);
    expect(settled).toBe(5);

    const byBytes = new PublishQueue(rpc, { maxMessages: 100, maxBytes: 1000 });
    const large = [chunk(600, 5), chunk(600, 6), chunk(600, 7)];
    const sized = large.map((message) => byBytes.publish(message, 60_000));
    expect(rpc.requests).toEqual([2, 2, 1, 2]);
    await byBytes.flush();
    expect(rpc.requests).toEqual([2, 2, 1, 2, 1]);
    await Promise.all([...counted, ...sized]);
    expectDelivered(await pullAll(subscription, [...messages, ...large]), [...messages, ...large]);
  });
});
