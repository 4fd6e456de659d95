/**
 * The ingress's audio publishes (functions/ingress/gathered-publish.ts) against the Pub/Sub
 * emulator: a lone chunk leaves at once, chunks that follow within the window share one
 * RPC, each chunk learns its own message id, and a failed RPC fails every chunk in it.
 */
import { GatheredPublisher, type OutgoingMessage, publishRpcOf } from "../../functions/ingress/gathered-publish";
import { GrpcStatus, hasGrpcStatus } from "../../shared/grpc-error";
import { pullMessages } from "../support/pull";
import { createTestEnvironment, type TestEnvironment } from "../support/test-environment";

let env: TestEnvironment;

beforeAll(async () => {
  env = await createTestEnvironment("gathered");
});
afterAll(async () => {
  await env?.close();
});

const LIMITS = { windowMs: 25, maxMessages: 100, maxBytes: 4 * 1024 * 1024 };

/** A publisher on `topic` whose every RPC is recorded by its number of messages. */
function countingPublisher(topic: string): { publisher: GatheredPublisher; rpcs: number[] } {
  const rpc = publishRpcOf(env.clients.pubsub, topic);
  const rpcs: number[] = [];
  const counted = (messages: OutgoingMessage[]) => {
    rpcs.push(messages.length);
    return rpc(messages);
  };
  return { publisher: new GatheredPublisher(counted, LIMITS), rpcs };
}

const chunk = (name: string): OutgoingMessage => ({ data: Buffer.from(name), attributes: { chunk: name } });

test("a lone chunk leaves at once, the ones following it share an RPC, each gets its own id", async () => {
  const pubsub = env.clients.pubsub;
  const [topic] = await pubsub.createTopic(`${env.resources.environment}-gathered`);
  await topic.createSubscription(`${env.resources.environment}-gathered-sub`);
  const { publisher, rpcs } = countingPublisher(topic.name);

  const lone = publisher.publish(chunk("a"));
  expect(rpcs).toEqual([1]); // sent before publish returned: no timer
  const following = ["b", "c", "d"].map((name) => publisher.publish(chunk(name)));
  expect(rpcs).toEqual([1]); // they wait for company
  const ids = await Promise.all([lone, ...following]);
  expect(rpcs).toEqual([1, 3]);
  expect(new Set(ids).size).toBe(4);

  // Each id is the one Pub/Sub gave that chunk's message.
  const pulled = await pullMessages(pubsub, `${env.resources.environment}-gathered-sub`, { count: 4 });
  const idOf = Object.fromEntries(pulled.map((m) => [m.data.toString(), m.id]));
  expect(idOf).toEqual({ a: ids[0], b: ids[1], c: ids[2], d: ids[3] });

  // After a quiet spell a chunk is alone again; flush sends the one gathered behind it at once.
  const late = [publisher.publish(chunk("e")), publisher.publish(chunk("f"))];
  expect(rpcs).toEqual([1, 3, 1]);
  await publisher.flush();
  expect(rpcs).toEqual([1, 3, 1, 1]);
  expect(await Promise.all(late)).toHaveLength(2);
});

test("an RPC that fails rejects every chunk in it, with its error", async () => {
  const { publisher, rpcs } = countingPublisher("no-such-topic");
  const results = await Promise.allSettled(["a", "b", "c"].map((name) => publisher.publish(chunk(name))));
  expect(rpcs).toEqual([1, 2]);
  for (const result of results) {
    expect(result.status).toBe("rejected");
    if (result.status === "rejected") expect(hasGrpcStatus(result.reason, GrpcStatus.NOT_FOUND)).toBe(true);
  }
  await expect(publisher.flush()).resolves.toBeUndefined();
});
