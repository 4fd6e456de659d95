/**
 * What the ingress writes for a conversation: chunk and event messages exactly as
 * shared/messages.ts describes them, the Firestore record and its sessions, client-chosen
 * conversation ids, and one live socket per conversation across instances.
 */

import { conversationRef, sessionRef } from "../../shared/firestore-schema";
import { audioChunkAttributesSchema, eventAttributesSchema, eventBodySchema } from "../../shared/messages";
import { testPcm } from "../support/ingress-audio";
import { type IngressHarness, reassemble, startIngressHarness } from "../support/ingress-harness";
import { rawConnect } from "../support/ingress-raw-client";
import { eventually } from "../support/poll";

const CHUNK = 1600;
let h: IngressHarness;

beforeAll(async () => {
  h = await startIngressHarness("convs");
});
afterAll(async () => {
  await h?.close();
});

const segment = (id: string, start: number) => ({
  id,
  start,
  end: start + 1.5,
  text: `words ${id}`,
  speaker: "SPEAKER_01",
  is_user: false,
  person_id: null,
});

test("chunks and events carry the schema's attributes, no ordering key, and valid bodies", async () => {
  const client = rawConnect(h.url, { token: await h.token("writer") });
  const ready = await client.next("ready");
  const id = String(ready.conversation_id);
  expect(ready).toMatchObject({
    protocol: 1,
    environment: h.env.resources.environment,
    position_unit: "byte",
    position: 0,
    chunk_size: CHUNK,
  });
  client.json({ type: "segments", segments: [segment("s1", 0), segment("s2", 1.5)] });
  client.send(testPcm(CHUNK * 2 + 10, 21));
  client.json({ type: "speaker_assigned", person_id: "p1", segment_ids: ["s1", "s2"] });
  client.json({ type: "finalize" });
  expect(await client.next("finalized")).toMatchObject({ position: CHUNK * 2 + 10 });

  await h.audio.waitFor("three chunks", () => h.audio.forConversation(id).length >= 3);
  await h.events.waitFor("three events", () => h.events.forConversation(id).length >= 3);
  for (const chunk of h.audio.forConversation(id)) {
    const attributes = audioChunkAttributesSchema.parse(chunk.attributes);
    expect(attributes).toMatchObject({
      environment: h.env.resources.environment,
      conversation_id: id,
      user_id: "writer",
      codec: "pcm16",
      sample_rate: 8000,
      chunk_size: CHUNK,
    });
    expect(attributes.session_id).toBe(ready.session_id);
    expect(chunk.orderingKey).toBe(""); // no ordering key: storage is by index, not by order
  }
  // Delivery is unordered: the events' numbers (finalize is 0) say in which order they were sent.
  const byNumber = (seq: number) => (seq === 0 ? Number.MAX_SAFE_INTEGER : seq);
  const events = h.events
    .forConversation(id)
    .map((m) => ({
      attributes: eventAttributesSchema.parse(m.attributes),
      body: eventBodySchema.parse(JSON.parse(m.data.toString())),
      key: m.orderingKey,
    }))
    .sort((x, y) => byNumber(x.attributes.seq) - byNumber(y.attributes.seq));
  expect(events.map((e) => [e.attributes.seq, e.attributes.session_ordinal])).toEqual([
    [1, 1],
    [2, 1],
    [0, 1],
  ]);
  expect(events.map((e) => e.body.type)).toEqual(["segments", "speaker_assigned", "finalize"]);
  expect(events.map((e) => e.attributes.event_type)).toEqual(["segments", "speaker_assigned", "finalize"]);
  expect(events[0]?.body).toEqual({ type: "segments", segments: [segment("s1", 0), segment("s2", 1.5)] });
  expect(events[2]?.body).toEqual({ type: "finalize", final_position: CHUNK * 2 + 10, reason: "client" });
  expect(new Set(events.map((e) => e.attributes.event_id)).size).toBe(3);
  expect(events.every((e) => e.key === "" && e.attributes.user_id === "writer")).toBe(true);

  const doc = (await conversationRef(h.env.clients.firestore, id).get()).data();
  expect(doc).toMatchObject({
    id,
    environment: h.env.resources.environment,
    user_id: "writer",
    codec: "pcm16",
    sample_rate: 8000,
    channels: 1,
    chunk_size: CHUNK,
    status: "finalizing",
    final_position: CHUNK * 2 + 10,
    durable_position: CHUNK * 2 + 10,
    finalize_reason: "client",
    active_session: ready.session_id,
  });
  const session = async () => (await sessionRef(h.env.clients.firestore, id, String(ready.session_id)).get()).data();
  await eventually(async () => (await session())?.close_code === 1000, "the end of the session to be recorded");
  expect(await session()).toMatchObject({ session_id: ready.session_id, start_position: 0, close_code: 1000 });
});

test("a client-chosen id is created, then continued by the same user without a resume token", async () => {
  const first = rawConnect(h.url, { token: await h.token("chooser"), conversationId: "chosen-id-0001" });
  expect(await first.next("ready")).toMatchObject({ conversation_id: "chosen-id-0001", position: 0 });
  const audio = testPcm(CHUNK * 3, 8);
  first.send(audio.subarray(0, CHUNK + 200));
  await first.ackAtLeast(CHUNK);
  first.ws.terminate(); // the app lost its ready (and its resume token) with the socket

  const again = rawConnect(h.url, { token: await h.token("chooser"), conversationId: "chosen-id-0001" });
  expect(await again.next("ready")).toMatchObject({ conversation_id: "chosen-id-0001", position: CHUNK });
  again.send(audio.subarray(CHUNK));
  again.json({ type: "finalize" });
  await again.next("finalized");
  await h.audio.waitFor("three chunks", () => h.audio.forConversation("chosen-id-0001").length >= 3);
  expect(reassemble(h.audio.forConversation("chosen-id-0001")).body.equals(audio)).toBe(true);

  const late = rawConnect(h.url, { token: await h.token("chooser"), conversationId: "chosen-id-0001" });
  expect((await late.closed).code).toBe(4410);
});

test("the access token may come as the access_token query parameter", async () => {
  const client = rawConnect(h.url, { token: await h.token("query-user"), tokenInQuery: true });
  const ready = await client.next("ready");
  const doc = (await conversationRef(h.env.clients.firestore, String(ready.conversation_id)).get()).data();
  expect(doc?.user_id).toBe("query-user");
  client.ws.close();
});

test("a resumed conversation must keep its codec and sample rate", async () => {
  const first = rawConnect(h.url, { token: await h.token(), conversationId: "format-fixed-01" });
  await first.next("ready");
  first.ws.close();
  const other = rawConnect(h.url, { token: await h.token(), conversationId: "format-fixed-01", sampleRate: 16000 });
  expect((await other.closed).code).toBe(4415);
});

test("one live socket per conversation across instances: the older instance learns it at its next write", async () => {
  const second = await h.startInstance();
  const old = rawConnect(h.url, { token: await h.token() });
  const ready = await old.next("ready");
  const id = String(ready.conversation_id);
  const audio = testPcm(CHUNK * 4, 31);
  old.send(audio.subarray(0, CHUNK));
  await old.ackAtLeast(CHUNK);

  // The client believes the old socket dead and resumes through another instance.
  const fresh = rawConnect(second.url, { token: await h.token(), resumeToken: String(ready.resume_token) });
  expect(await fresh.next("ready")).toMatchObject({ position: CHUNK });
  // The old socket is still open on the first instance; its next chunk meets the new owner.
  old.send(audio.subarray(CHUNK, CHUNK * 2));
  expect((await old.closed).code).toBe(4001);
  expect(old.acks()).toEqual([CHUNK]);

  fresh.send(audio.subarray(CHUNK));
  fresh.json({ type: "finalize" });
  await fresh.next("finalized");
  await h.audio.waitFor(
    "four chunks",
    () => new Set(h.audio.forConversation(id).map((m) => m.attributes.chunk_index)).size >= 4,
  );
  expect(reassemble(h.audio.forConversation(id)).body.equals(audio)).toBe(true);
  await second.close();
});

test("frames sent before ready are kept, in order", async () => {
  const client = rawConnect(h.url, { token: await h.token() });
  await client.opened();
  const audio = testPcm(CHUNK + 2, 41);
  client.send(audio);
  client.json({ type: "finalize" });
  const ready = await client.next("ready");
  expect(await client.next("finalized")).toMatchObject({ position: CHUNK + 2 });
  const id = String(ready.conversation_id);
  await h.audio.waitFor("two chunks", () => h.audio.forConversation(id).length >= 2);
  expect(reassemble(h.audio.forConversation(id)).body.equals(audio)).toBe(true);
});
