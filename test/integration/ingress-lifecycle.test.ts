/**
 * How conversations and instances end: the idle timeout finalizes a conversation (with its
 * socket open, or after its client vanished), and SIGTERM drains the ingress process.
 */

import { freePort } from "../../local/ports";
import { conversationRef } from "../../shared/firestore-schema";
import { eventually, testPcm } from "../support/ingress-audio";
import { type IngressHarness, reassemble, startIngressHarness } from "../support/ingress-harness";
import { startIngressProcess } from "../support/ingress-process";
import { rawConnect } from "../support/ingress-raw-client";

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
    await eventually("the conversation's chunks", async () => h.audio.forConversation(id).length >= 2);
    expect(h.audio.forConversation(id).every((m) => m.attributes.final === "false")).toBe(true);
  } finally {
    if (instance.child.exitCode === null) await instance.kill();
  }
});
