/**
 * The local pull bridge on the Pub/Sub emulator, with subscriptions provisioned from the
 * pipeline declaration: it delivers as the deployed push subscription does, concurrently,
 * unordered, again after a failure, and again when a delivery outlives the ack deadline.
 */
import type { CloudEvent } from "@google-cloud/functions-framework";
import { type Bridge, bridgeSubscription } from "../../local/pubsub-bridge";
import { PIPELINE } from "../../shared/pipeline";
import { decodePubSubEvent, type ReceivedMessage } from "../../shared/pubsub-event";
import { pullMessages } from "../support/pull";
import { createTestEnvironment, type TestEnvironment } from "../support/test-environment";
import { captureLogs } from "../support/workers-logs";
import { eventually } from "../support/workers-wait";

describe("the local pull bridge", () => {
  let env: TestEnvironment;
  const bridges: Bridge[] = [];
  const logs = captureLogs();

  beforeAll(async () => {
    env = await createTestEnvironment("bridge");
  });
  afterEach(async () => {
    await Promise.all(bridges.splice(0).map((bridge) => bridge.close()));
  });
  afterAll(async () => {
    await env?.close();
  });

  /** Bridges the audio topic's worker subscription to `handler`. */
  const bridge = (
    handler: (message: ReceivedMessage) => Promise<void>,
    ackDeadlineSeconds?: number,
    maxConcurrent?: number,
  ): void => {
    bridges.push(
      bridgeSubscription({
        ...(maxConcurrent === undefined ? {} : { maxConcurrent }),
        pubsub: env.clients.pubsub,
        projectId: env.resources.projectId,
        topic: env.resources.topics.audio,
        subscription: env.resources.subscriptions.persistAudio,
        handler: (event: CloudEvent<unknown>) => handler(decodePubSubEvent(event)),
        logger: logs.logger,
        ackDeadlineSeconds: ackDeadlineSeconds ?? PIPELINE.subscriptions.persistAudio.ackDeadlineSeconds,
      }),
    );
  };
  /** Publishes `names` under one ordering key, as an ordered publisher would. */
  const publishKeyed = async (test: string, names: readonly string[]): Promise<void> => {
    const topic = env.clients.pubsub.topic(env.resources.topics.audio, { messageOrdering: true });
    await Promise.all(
      names.map((name) =>
        topic.publishMessage({ data: Buffer.from(name), attributes: { test, name }, orderingKey: `${test}-key` }),
      ),
    );
  };
  const ofTest = (test: string) => (message: ReceivedMessage) => message.attributes.test === test;

  it("hands one ordering key's messages to the handler all at once", async () => {
    const names = ["a", "b", "c", "d", "e", "f"];
    let inFlight = 0;
    let most = 0;
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const handled: string[] = [];
    bridge(async (message) => {
      if (!ofTest("concurrent")(message)) return;
      inFlight += 1;
      most = Math.max(most, inFlight);
      await released; // held until every message is in flight at once
      inFlight -= 1;
      handled.push(message.attributes.name as string);
    });
    await publishKeyed("concurrent", names);

    await eventually(async () => most === names.length, "every message of the key in flight together");
    release();
    await eventually(async () => handled.length === names.length, "every message handled");
    expect([...handled].sort()).toEqual(names);
  });

  it("takes only as many messages as it has free handler slots, leaving the rest in the subscription", async () => {
    // A push subscription holds no backlog in the function; neither may the bridge (the
    // emulator ignores a streaming pull's flow control, so a bridge built on one would lease
    // the whole backlog into its process).
    const names = Array.from({ length: 12 }, (_, i) => `m${i}`);
    let inFlight = 0;
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const handled: string[] = [];
    bridge(
      async (message) => {
        if (!ofTest("slots")(message)) return;
        inFlight += 1;
        await released;
        handled.push(message.attributes.name as string);
      },
      undefined,
      3,
    );
    await publishKeyed("slots", names);
    await eventually(async () => inFlight === 3, "three messages in the bridge's three slots");

    // Everything else is still in the subscription: another reader gets exactly the other nine.
    const others = (
      await pullMessages(env.clients.pubsub, env.resources.subscriptions.persistAudio, { count: 9, quietMs: 2500 })
    ).filter((m) => m.attributes.test === "slots");
    expect(others).toHaveLength(9);
    expect(inFlight).toBe(3);

    release();
    await eventually(async () => handled.length === 3, "the bridge's three messages handled");
    expect([...handled, ...others.map((m) => m.attributes.name)].sort()).toEqual([...names].sort());
  });

  it("redelivers a message whose handler failed, and a failure holds nothing behind it back", async () => {
    const attempts = new Map<string, number>();
    const succeeded: string[] = [];
    bridge(async (message) => {
      if (!ofTest("retry")(message)) return;
      const name = message.attributes.name as string;
      const attempt = (attempts.get(name) ?? 0) + 1;
      attempts.set(name, attempt);
      // The first message fails until the two behind it under its key have been handled:
      // if its failure held them back, neither would ever succeed.
      const behindDone = succeeded.includes("second") && succeeded.includes("third");
      if (name === "first" && (attempt === 1 || !behindDone)) throw new Error("injected failure");
      succeeded.push(name);
    });
    await publishKeyed("retry", ["first", "second", "third"]);

    await eventually(async () => succeeded.includes("first"), "the failed message redelivered and handled", {
      timeoutMs: 45_000,
    });
    expect(succeeded.at(-1)).toBe("first");
    expect(attempts.get("first")).toBeGreaterThanOrEqual(2);
    expect(
      logs.find("WARNING", { subscription: env.resources.subscriptions.persistAudio }).map((l) => l.message),
    ).toContain("worker failed; message will be redelivered");

    // Everything was acked: the subscription holds nothing more.
    await Promise.all(bridges.splice(0).map((b) => b.close()));
    const left = await pullMessages(env.clients.pubsub, env.resources.subscriptions.persistAudio, { quietMs: 2500 });
    expect(left.filter((m) => m.attributes.test === "retry")).toEqual([]);
  });

  it("delivers a message again while a delivery that outlived the ack deadline still runs, as a push does", async () => {
    const deliveries: string[] = [];
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    bridge(async (message) => {
      if (!ofTest("slow")(message)) return;
      deliveries.push(message.id);
      if (deliveries.length === 1) await released; // the first delivery hangs past the deadline
    }, 10);
    await publishKeyed("slow", ["slow"]);

    await eventually(async () => deliveries.length >= 2, "a second delivery while the first still runs", {
      timeoutMs: 55_000,
      intervalMs: 250,
    });
    release();
    expect(new Set(deliveries).size).toBe(1); // the same message, twice
  }, 70_000);
});
