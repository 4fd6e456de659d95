/**
 * The local push path (local/push-delivery.ts) on the Pub/Sub emulator, with subscriptions
 * provisioned from the pipeline declaration: each worker served by the functions framework,
 * pushed to by the emulator. It delivers concurrently (as far as the emulator does: the
 * documented 2 at a time), pushes again a message whose push outlived the ack deadline
 * while the first run goes on, leaves what it did not deliver in the subscription when it
 * stops, and runs a worker in its own process from the registration that deploys.
 */
import { WORKERS, type WorkerBinding } from "../../functions/workers";
import { emulatorEnvironment } from "../../local/emulators";
import { type PushedWorkers, startPushedWorkers } from "../../local/push-delivery";
import { pushPath } from "../../shared/pipeline";
import { decodePubSubEvent, type ReceivedMessage } from "../../shared/pubsub-event";
import { eventually } from "../support/poll";
import { pullMessages } from "../support/pull";
import { createTestEnvironment, runningEmulatorEndpoints, type TestEnvironment } from "../support/test-environment";
import { chunkMessage } from "../support/workers-messages";
import { createWorkerTestRuntime, uniqueConversationId, type WorkerTestRuntime } from "../support/workers-runtime";

const persistAudio = WORKERS.find((binding) => binding.name === "persistAudio") as WorkerBinding;

describe("the local push path", () => {
  let env: TestEnvironment;
  let worker: WorkerTestRuntime;
  let running: PushedWorkers | undefined;

  beforeAll(async () => {
    env = await createTestEnvironment("push");
    worker = createWorkerTestRuntime(env);
  });
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });
  afterAll(async () => {
    await worker?.close();
    await env?.close();
  });

  /** Serves `handler` as the persist-audio worker (its subscription, its push path), in this process. */
  const serve = async (handler: (message: ReceivedMessage) => Promise<void>, ackDeadlineSeconds?: number) => {
    const binding: WorkerBinding = {
      ...persistAudio,
      worker: {
        ...persistAudio.worker,
        delivery: {
          ...persistAudio.worker.delivery,
          ackDeadlineSeconds: ackDeadlineSeconds ?? persistAudio.worker.delivery.ackDeadlineSeconds,
        },
      },
      create: () => async (event) => handler(decodePubSubEvent(event)),
    };
    running = await startPushedWorkers({
      bindings: [binding],
      runtime: worker.runtime,
      workerRuntime: worker.runtime,
      host: "127.0.0.1",
    });
  };
  const publish = (test: string, names: readonly string[]) =>
    Promise.all(
      names.map((name) =>
        env.clients.pubsub
          .topic(env.resources.topics.audio)
          .publishMessage({ data: Buffer.from(name), attributes: { test, name } }),
      ),
    );
  const ofTest = (test: string) => (message: { attributes: Readonly<Record<string, string>> }) =>
    message.attributes.test === test;

  it("pushes 2 at a time and keeps the rest in the subscription; once stopped, nothing more is pushed", async () => {
    const names = Array.from({ length: 8 }, (_, i) => `m${i}`);
    let inFlight = 0;
    let most = 0;
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const handled: string[] = [];
    await serve(async (message) => {
      if (!ofTest("held")(message)) return;
      inFlight += 1;
      most = Math.max(most, inFlight);
      await released;
      inFlight -= 1;
      handled.push(message.attributes.name as string);
    });
    await publish("held", names);
    await eventually(async () => inFlight === 2, "two pushes in flight together");

    // Stop pushing first, then answer the held two: nothing released before the stop can be pushed.
    const closing = running?.close();
    running = undefined;
    const subscription = env.clients.pubsub.subscription(env.resources.subscriptions.persistAudio);
    await eventually(async () => {
      const [metadata] = await subscription.getMetadata();
      return (metadata.pushConfig?.pushEndpoint ?? "") === "";
    }, "the subscription switched to pull");
    release();
    await closing;
    const left = (
      await pullMessages(env.clients.pubsub, env.resources.subscriptions.persistAudio, { quietMs: 2500 })
    ).filter(ofTest("held"));
    expect(most).toBe(2);
    // Every message was handled or is still in the subscription; none was acked away.
    expect([...new Set([...handled, ...left.map((m) => m.attributes.name)])].sort()).toEqual([...names].sort());
    expect(left.length).toBeGreaterThan(0);
  });

  it("pushes a message again however often it failed, among others (the emulator under no retry policy)", async () => {
    // With a retry policy the emulator stopped pushing such messages after 2 or 3 failures.
    const names = Array.from({ length: 24 }, (_, i) => `m${i}`);
    const failing = new Set(names.filter((_, i) => i % 4 === 0));
    const attempts = new Map<string, number>();
    const done = new Set<string>();
    await serve(async (message) => {
      if (!ofTest("failing")(message)) return;
      const name = message.attributes.name as string;
      const attempt = (attempts.get(name) ?? 0) + 1;
      attempts.set(name, attempt);
      if (failing.has(name) && attempt <= 4) throw new Error(`failing ${name} on purpose, attempt ${attempt}`);
      done.add(name);
    });
    await publish("failing", names);
    await eventually(async () => done.size === names.length, "every message handled", {
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    for (const name of failing) expect(attempts.get(name)).toBe(5);
  });

  it("cuts a push that outlives the ack deadline, and the message is pushed again while the first run goes on", async () => {
    const starts: number[] = [];
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    await serve(async (message) => {
      if (!ofTest("slow")(message)) return;
      starts.push(Date.now());
      if (starts.length === 1) await released; // the first run hangs past the deadline
    }, 10);
    await publish("slow", ["slow"]);

    await eventually(async () => starts.length >= 2, "a second push while the first run still hangs", {
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    release();
    const [first = 0, second = 0] = starts;
    // Not before the deadline (the cut counts from the push's arrival, a moment before the run starts).
    expect(second - first).toBeGreaterThanOrEqual(9_500);
  }, 40_000);

  it("answers 404 to a push for another topic, leaving it to Pub/Sub's retry", async () => {
    await serve(async () => undefined);
    const url = running?.urls.get("persistAudio");
    const other = await fetch(`${url}${pushPath("another-project", env.resources.topics.audio)}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ message: { data: "eA==", messageId: "1" }, subscription: "s" }),
    });
    expect(other.status).toBe(404);
  });

  it("runs a worker in a process of its own from functions/index.ts, pushed to like the others", async () => {
    running = await startPushedWorkers({
      bindings: [persistAudio],
      runtime: worker.runtime,
      workerRuntime: worker.runtime,
      host: "127.0.0.1",
      processes: {
        ...emulatorEnvironment(runningEmulatorEndpoints()),
        TETHER_ENVIRONMENT: env.resources.environment,
        TETHER_PROJECT_ID: env.resources.projectId,
        TETHER_TOKEN_SECRET: worker.tokenSecret,
        LOG_LEVEL: "warn",
      },
    });
    // A chunk of another environment: the deployed worker dead-letters it, which shows it ran.
    const id = uniqueConversationId("process");
    const message = chunkMessage(
      { environment: "prod", conversationId: id, userId: "u", codec: "pcm16", sampleRate: 8000, chunkSize: 2 },
      { index: 0, start: 0, end: 2, final: true },
      Buffer.alloc(2),
    );
    await env.clients.pubsub.topic(env.resources.topics.audio).publishMessage(message);
    const dead = await pullMessages(env.clients.pubsub, env.resources.subscriptions.deadLetter, { count: 1 });
    expect(dead.map((m) => [m.attributes.conversation_id, m.attributes.rejection_reason])).toEqual([
      [id, "wrong_environment"],
    ]);
  }, 40_000);
});
