/**
 * How conversations and instances end: the idle timeout finalizes a conversation (with its
 * socket open, or after its client vanished, or not at all when its final chunk cannot be
 * published), and SIGTERM drains the ingress process.
 */

import { connect } from "../../client/index";
import type { CutChunk } from "../../functions/ingress/chunker";
import { type AudioFormat, IngressPublisher, type SessionTags } from "../../functions/ingress/publisher";
import { freePort } from "../../local/ports";
import { conversationRef } from "../../shared/firestore-schema";
import { testPcm } from "../support/ingress-audio";
import { type IngressHarness, reassemble, startIngressHarness } from "../support/ingress-harness";
import { startIngressProcess } from "../support/ingress-process";
import { rawConnect } from "../support/ingress-raw-client";
import { eventually, until } from "../support/poll";

const CHUNK = 1600;
let h: IngressHarness;

beforeAll(async () => {
  h = await startIngressHarness("life", { idleTimeoutSeconds: 1 });
});
afterAll(async () => {
  await h?.close();
});

function finalizeEvent(id: string): Record<string, unknown> | undefined {
  const message = h.events.forConversation(id).find((m) => m.attributes.event_type === "finalize");
  return message === undefined ? undefined : (JSON.parse(message.data.toString()) as Record<string, unknown>);
}

test("idle timeout with the socket open: the partial chunk becomes the final chunk, then finalized and 1000", async () => {
  const client = rawConnect(h.url, { token: await h.token() });
  const id = String((await client.next("ready")).conversation_id);
  const audio = testPcm(CHUNK + 500, 51);
  client.send(audio);
  // No more audio: the server finalizes on its own.
  expect(await client.next("finalized")).toEqual({ type: "finalized", conversation_id: id, position: CHUNK + 500 });
  expect((await client.closed).code).toBe(1000);
  await h.events.waitFor("the finalize event", () => finalizeEvent(id) !== undefined);
  expect(finalizeEvent(id)).toEqual({ type: "finalize", final_position: CHUNK + 500, reason: "idle_timeout" });
  await h.audio.waitFor("both chunks", () => h.audio.forConversation(id).length >= 2);
  expect(reassemble(h.audio.forConversation(id)).body.equals(audio)).toBe(true);
  expect(h.audio.forConversation(id).find((m) => m.attributes.chunk_index === "1")?.attributes.final).toBe("true");
  expect(
    h.logs.some((l) => l.conversation_id === id && l.message === "idle timeout: finalizing" && l.severity === "INFO"),
  ).toBe(true);
});

test("idle timeout after the client vanished: finalized at the durable position, the dropped partial chunk never published", async () => {
  const client = rawConnect(h.url, { token: await h.token() });
  const ready = await client.next("ready");
  const id = String(ready.conversation_id);
  client.send(testPcm(CHUNK + 700, 52));
  await client.ackAtLeast(CHUNK);
  client.ws.terminate();
  await h.events.waitFor("the finalize event", () => finalizeEvent(id) !== undefined);
  expect(finalizeEvent(id)).toEqual({ type: "finalize", final_position: CHUNK, reason: "idle_timeout" });
  const doc = (await conversationRef(h.env.clients.firestore, id).get()).data();
  expect(doc).toMatchObject({
    status: "finalizing",
    final_position: CHUNK,
    finalize_reason: "idle_timeout",
    durable_position: CHUNK,
  });
  expect(h.audio.forConversation(id).map((m) => m.attributes.chunk_index)).toEqual(["0"]);
  expect(h.logs.some((l) => l.conversation_id === id && l.units_dropped === 700)).toBe(true);
  // A client that comes back now is told the conversation is over, and where it ended.
  const late = rawConnect(h.url, { token: await h.token(), resumeToken: String(ready.resume_token) });
  expect((await late.closed).code).toBe(4410);
  expect(late.messages[0]).toMatchObject({ code: "conversation_finalized", final_position: CHUNK });
});

/** The real publisher, except that the first final chunk waits at a gate, then fails (Pub/Sub refused it). */
class FinalChunkHeldThenFails extends IngressPublisher {
  held = 0;
  private fail: (() => void) | undefined;
  override async publishChunk(tags: SessionTags, format: AudioFormat, chunk: CutChunk): Promise<string> {
    if (chunk.final && this.held === 0) {
      this.held += 1;
      await new Promise<void>((resolve) => {
        this.fail = resolve;
      });
      throw new Error("injected: the final chunk could not be published");
    }
    return await super.publishChunk(tags, format, chunk);
  }
  release(): void {
    this.fail?.();
  }
}

test("an idle-timeout finalize that fails records nothing: audio sent while it ran is re-sent on resume, and every byte is stored", async () => {
  const holder: { publisher?: FinalChunkHeldThenFails } = {};
  const instance = await h.startInstance({
    publisher: (runtime) => {
      holder.publisher = new FinalChunkHeldThenFails(runtime.clients.pubsub, runtime.resources);
      return holder.publisher;
    },
  });
  const session = await connect({
    url: instance.url,
    token: await h.token("user-idle-fails"),
    sampleRate: 8000,
    backoff: { initialDelayMs: 10, maxDelayMs: 50 },
  });
  const before = testPcm(CHUNK + 500, 53);
  const after = testPcm(CHUNK * 2 + 300, 54);
  await session.write(before);
  // The client pauses past the idle timeout: the ingress finalizes, and its final chunk is held.
  await until("the idle finalize's final chunk at the gate", () => holder.publisher?.held === 1);
  const id = session.conversationId;
  // The client speaks again while the finalize runs: the ingress drops that audio (the client still holds it).
  await session.write(after);
  await until("the audio that arrived while finalizing, dropped", () =>
    h.logs.some((l) => l.conversation_id === id && l.message?.startsWith("audio after finalize dropped") === true),
  );
  holder.publisher?.release();
  const finalized = await session.finalize();

  const all = Buffer.concat([before, after]);
  expect(finalized.position).toBe(all.length);
  expect(session.stats.reconnects).toBeGreaterThanOrEqual(1);
  const doc = (await conversationRef(h.env.clients.firestore, id).get()).data();
  expect(doc).toMatchObject({ status: "finalizing", final_position: all.length, finalize_reason: "client" });
  await h.audio.waitFor("the final chunk", () =>
    h.audio.forConversation(id).some((m) => m.attributes.final === "true" && m.attributes.end === String(all.length)),
  );
  expect(reassemble(h.audio.forConversation(id)).body.equals(all)).toBe(true);
  expect(
    h.logs.some(
      (l) =>
        l.conversation_id === id &&
        l.severity === "ERROR" &&
        l.reason === "idle_timeout" &&
        l.message?.startsWith("finalize failed before `finalizing` was recorded") === true,
    ),
  ).toBe(true);
});

test("SIGTERM: the ingress process acknowledges what it received complete, closes with 1012, and exits 0", async () => {
  const port = await freePort();
  const instance = await startIngressProcess({
    resources: h.env.resources,
    tokenSecret: h.tokenSecret,
    port,
    chunkSeconds: 0.1,
  });
  try {
    const client = rawConnect(instance.url, { token: await h.token() });
    const id = String((await client.next("ready")).conversation_id);
    client.send(testPcm(CHUNK * 2 + 300, 53));
    await client.ackAtLeast(CHUNK * 2);
    const exit = instance.terminate();
    const closed = await client.closed;
    expect(closed.code).toBe(1012);
    expect(client.messages.at(-1)).toMatchObject({ type: "error", code: "restarting" });
    expect(await exit).toBe(0);
    await eventually(() => h.audio.forConversation(id).length >= 2, "the conversation's chunks");
    expect(h.audio.forConversation(id).every((m) => m.attributes.final === "false")).toBe(true);
  } finally {
    if (instance.child.exitCode === null) await instance.kill();
  }
});
