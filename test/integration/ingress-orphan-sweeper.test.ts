/**
 * The orphan sweeper: a conversation whose ingress instance died while its client was gone
 * is finalized by another instance; one whose owner still writes is left alone; one stuck
 * in `finalizing` gets its finalize event published again.
 *
 * The harness's own instance sweeps with the default grace (30 s), so it never acts here;
 * each test starts the sweeping instance it needs, with a short interval and grace.
 */
import { Timestamp } from "@google-cloud/firestore";
import { IngressPublisher, type SessionTags } from "../../functions/ingress/publisher";
import type { RunningIngress } from "../../functions/ingress/server";
import { freePort } from "../../local/ports";
import { conversationRef } from "../../shared/firestore-schema";
import type { EventBody } from "../../shared/messages";
import { testPcm } from "../support/ingress-audio";
import { type IngressHarness, startIngressHarness } from "../support/ingress-harness";
import { type IngressProcess, startIngressProcess } from "../support/ingress-process";
import { rawConnect } from "../support/ingress-raw-client";

const CHUNK = 1600; // pcm16 at 8000 Hz, 0.1 s chunks
let h: IngressHarness;

beforeAll(async () => {
  h = await startIngressHarness("orph", { idleTimeoutSeconds: 1 });
});
afterAll(async () => {
  await h?.close();
});

/** Another instance of the environment whose sweeper runs every 100 ms. */
function startSweeper(graceMs: number): Promise<RunningIngress> {
  return h.startInstance({ limits: { orphanSweepIntervalMs: 100, orphanGraceMs: graceMs } });
}

function finalizeEvents(id: string): Array<Record<string, unknown>> {
  return h.events
    .forConversation(id)
    .filter((m) => m.attributes.event_type === "finalize")
    .map((m) => JSON.parse(m.data.toString()) as Record<string, unknown>);
}

function sweepLogs(id: string) {
  return h.logs.filter((l) => l.conversation_id === id && String(l.message).startsWith("orphan sweep"));
}

async function record(id: string) {
  return (await conversationRef(h.env.clients.firestore, id).get()).data();
}

test("an instance killed while its client is gone: another instance finalizes the conversation at its acked position", async () => {
  const sweeper = await startSweeper(2_000);
  let dead: IngressProcess | undefined;
  try {
    dead = await startIngressProcess({
      resources: h.env.resources,
      tokenSecret: h.tokenSecret,
      port: await freePort(),
      chunkSeconds: 0.1,
    });
    const client = rawConnect(dead.url, { token: await h.token() });
    const ready = await client.next("ready");
    const id = String(ready.conversation_id);
    client.send(testPcm(CHUNK * 2 + 300, 71));
    await client.ackAtLeast(CHUNK * 2);
    await dead.kill();
    client.ws.terminate(); // the client never comes back

    await h.events.waitFor("the finalize event", () => finalizeEvents(id).length > 0);
    await sweeper.close(); // no further sweeps: whatever follows came from the finalize itself
    expect(finalizeEvents(id)).toEqual([{ type: "finalize", final_position: CHUNK * 2, reason: "idle_timeout" }]);
    expect(await record(id)).toMatchObject({
      status: "finalizing",
      final_position: CHUNK * 2,
      finalize_reason: "idle_timeout",
      durable_position: CHUNK * 2,
    });
    // Every instance sweeps: one finalizes it; another may find the record changed (DEBUG).
    expect(sweepLogs(id).filter((l) => l.severity !== "DEBUG")).toEqual([
      expect.objectContaining({
        severity: "INFO",
        environment: h.env.resources.environment,
        final_position: CHUNK * 2,
        message: "orphan sweep: abandoned conversation finalized",
      }),
    ]);

    const late = rawConnect(h.url, { token: await h.token(), resumeToken: String(ready.resume_token) });
    expect((await late.closed).code).toBe(4410);
    expect(late.messages[0]).toMatchObject({ code: "conversation_finalized", final_position: CHUNK * 2 });
    expect(finalizeEvents(id)).toHaveLength(1);
  } finally {
    if (dead !== undefined && dead.child.exitCode === null) await dead.kill();
    await sweeper.close();
  }
});

test("a conversation whose owner keeps writing is left alone while abandoned records beside it are swept", async () => {
  const sweeper = await startSweeper(3_000);
  const db = h.env.clients.firestore;
  const environment = h.env.resources.environment;
  const suffix = String(Date.now());
  // Left by dead instances: one abandoned long ago, one unreadable (it is reported, the sweep goes on).
  const abandoned = `z-abandoned-${suffix}`;
  const malformed = `A-malformed-${suffix}`;
  try {
    const client = rawConnect(h.url, { token: await h.token() });
    const id = String((await client.next("ready")).conversation_id);
    let sent = 0;
    // Audio keeps coming whatever the acks' latency: the owner is never idle for its 1 s timeout.
    const sendChunk = (): void => {
      client.send(testPcm(CHUNK, 80 + sent / CHUNK));
      sent += CHUNK;
    };
    sendChunk();
    await client.ackAtLeast(sent);

    const longAgo = Timestamp.fromMillis(Date.now() - 60_000);
    await conversationRef(db, malformed).set({ environment, status: "in_progress", durable_position: "lost" });
    await conversationRef(db, abandoned).set({
      id: abandoned,
      environment,
      user_id: "user-2",
      codec: "pcm16",
      sample_rate: 8000,
      channels: 1,
      chunk_size: CHUNK,
      durable_position: CHUNK * 3,
      status: "in_progress",
      final_position: null,
      finalize_reason: null,
      created_at: longAgo,
      updated_at: longAgo,
      finalized_at: null,
      active_session: "s-of-a-dead-instance",
    });
    // Audio flows on the live conversation while the sweeper finds the abandoned one.
    while (finalizeEvents(abandoned).length === 0) {
      sendChunk();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    sendChunk();
    await client.ackAtLeast(sent);
    client.json({ type: "finalize" });
    expect(await client.next("finalized")).toEqual({ type: "finalized", conversation_id: id, position: sent });
    expect((await client.closed).code).toBe(1000);

    expect(finalizeEvents(abandoned)).toEqual([
      { type: "finalize", final_position: CHUNK * 3, reason: "idle_timeout" },
    ]);
    await h.events.waitFor("the live conversation's finalize", () => finalizeEvents(id).length > 0);
    expect(finalizeEvents(id)).toEqual([{ type: "finalize", final_position: sent, reason: "client" }]);
    expect(await record(id)).toMatchObject({ status: "finalizing", finalize_reason: "client", final_position: sent });
    expect(sweepLogs(id)).toEqual([]);
    expect(sweepLogs(malformed)).toContainEqual(
      expect.objectContaining({ severity: "ERROR", environment, message: "orphan sweep: record skipped" }),
    );
  } finally {
    await sweeper.close();
    await conversationRef(db, malformed).delete();
  }
});

/** The real publisher, except that finalize events fail (a Pub/Sub outage at the worst moment). */
class FinalizeFailingPublisher extends IngressPublisher {
  override async publishEvent(tags: SessionTags, body: EventBody, seq: number): Promise<string> {
    if (body.type === "finalize") throw new Error("injected: the finalize event could not be published");
    return await super.publishEvent(tags, body, seq);
  }
}

test("a conversation whose finalize event was never published is still finalized for its client, and the sweeper publishes the event", async () => {
  const failing = await h.startInstance({
    publisher: (runtime) => new FinalizeFailingPublisher(runtime.clients.pubsub, runtime.resources),
  });
  const client = rawConnect(failing.url, { token: await h.token() });
  const id = String((await client.next("ready")).conversation_id);
  client.send(testPcm(CHUNK * 2, 90));
  await client.ackAtLeast(CHUNK * 2);
  client.json({ type: "finalize" });
  // Everything was durable before the event: the client hears `finalized`.
  expect(await client.next("finalized")).toMatchObject({ position: CHUNK * 2 });
  expect((await client.closed).code).toBe(1000);
  expect(await record(id)).toMatchObject({
    status: "finalizing",
    final_position: CHUNK * 2,
    durable_position: CHUNK * 2,
    finalize_reason: "client",
  });
  expect(finalizeEvents(id)).toEqual([]);

  const sweeper = await startSweeper(1_000);
  try {
    await h.events.waitFor("the re-published finalize event", () => finalizeEvents(id).length > 0);
  } finally {
    await sweeper.close();
    await failing.close();
  }
  expect(new Set(finalizeEvents(id).map((e) => JSON.stringify(e)))).toEqual(
    new Set([JSON.stringify({ type: "finalize", final_position: CHUNK * 2, reason: "client" })]),
  );
  expect(sweepLogs(id)).toContainEqual(
    expect.objectContaining({
      severity: "INFO",
      environment: h.env.resources.environment,
      message: "orphan sweep: finalize event of a stuck conversation re-published",
    }),
  );
});
