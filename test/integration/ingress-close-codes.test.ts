/**
 * Every close code of PROTOCOL.md's table, produced against the emulators: the error
 * message before the close, the log line it leaves (severity, conversation_id,
 * environment), and that a refused socket writes nothing partial.
 */

import { signAccessToken } from "../../shared/auth";
import { conversationRef } from "../../shared/firestore-schema";
import { testPcm } from "../support/ingress-audio";
import { GatedPublisher } from "../support/ingress-gated-publisher";
import { type IngressHarness, type LogLine, reassemble, startIngressHarness } from "../support/ingress-harness";
import { type RawClient, rawConnect } from "../support/ingress-raw-client";
import { until } from "../support/poll";

const CHUNK = 1600; // 0.1 s of 8 kHz pcm16

let h: IngressHarness;
beforeAll(async () => {
  h = await startIngressHarness("codes");
});
afterAll(async () => {
  await h?.close();
});

async function open(
  options: Parameters<typeof rawConnect>[1] = {},
  url = h.url,
): Promise<{ client: RawClient; id: string; resume: string }> {
  const client = rawConnect(url, { token: await h.token(), ...options });
  const ready = await client.next("ready");
  return { client, id: String(ready.conversation_id), resume: String(ready.resume_token) };
}

async function refusedWith(client: RawClient, closeCode: number, code: string): Promise<Record<string, unknown>> {
  const closed = await client.closed;
  expect(closed.code).toBe(closeCode);
  const error = client.messages.find((m) => m.type === "error");
  expect(error).toMatchObject({ type: "error", code });
  expect(typeof error?.message).toBe("string");
  return error ?? {};
}

/** The log line of a refusal: severity, the conversation and the environment. */
function refusalLog(code: string, conversationId: string | null): LogLine {
  const line = h.logs.find((l) => l.code === code && l.conversation_id === conversationId);
  if (line === undefined) throw new Error(`no log line for ${code} of ${conversationId}`);
  expect(line.environment).toBe(h.env.resources.environment);
  expect(["INFO", "WARNING", "ERROR"]).toContain(line.severity);
  return line;
}

/**
 * Streams a complete conversation on the same environment and waits for it in both topics:
 * whatever a refused socket had published earlier would be there by then.
 */
async function sentinel(): Promise<void> {
  const { client, id } = await open();
  client.send(testPcm(CHUNK + 2, 9));
  client.json({ type: "finalize" });
  await client.next("finalized");
  await h.audio.waitFor("the sentinel's chunks", () => h.audio.forConversation(id).length >= 2);
  await h.events.waitFor("the sentinel's finalize", () => h.events.forConversation(id).length >= 1);
}

test("1000 after finalized", async () => {
  const { client, id } = await open();
  client.send(testPcm(CHUNK + 100));
  client.json({ type: "finalize" });
  expect(await client.next("finalized")).toEqual({ type: "finalized", conversation_id: id, position: CHUNK + 100 });
  expect((await client.closed).code).toBe(1000);
  expect(client.acks()).toEqual([CHUNK, CHUNK + 100]);
});

test("4001 to the older socket when a newer one resumes the conversation", async () => {
  const first = await open();
  first.client.send(testPcm(CHUNK * 2 + 10));
  await first.client.ackAtLeast(CHUNK * 2);
  const second = rawConnect(h.url, { token: await h.token(), resumeToken: first.resume });
  await refusedWith(first.client, 4001, "superseded");
  const ready = await second.next("ready");
  expect(ready).toMatchObject({ conversation_id: first.id, position: CHUNK * 2 });
  refusalLog("superseded", first.id);
});

test("4400 for malformed JSON, an unknown message type, and a malformed conversation_id", async () => {
  const json = await open();
  json.client.send("{not json");
  await refusedWith(json.client, 4400, "bad_request");
  refusalLog("bad_request", json.id);

  const unknown = await open();
  unknown.client.json({ type: "hello" });
  await refusedWith(unknown.client, 4400, "bad_request");

  const query = rawConnect(h.url, { token: await h.token(), rawQuery: "conversation_id=bad/id" });
  await refusedWith(query, 4400, "bad_request");
  expect(query.messages.some((m) => m.type === "ready")).toBe(false);
});

test("4400 for a malformed message mid-chunk: the partial chunk is never published", async () => {
  const { client, id } = await open();
  client.send(testPcm(CHUNK + 800));
  await client.ackAtLeast(CHUNK);
  client.json({ type: "segments", segments: [{ id: "s1" }] });
  await refusedWith(client, 4400, "bad_request");
  expect(h.logs.some((l) => l.conversation_id === id && l.units_dropped === 800)).toBe(true);
  await sentinel();
  expect(h.audio.forConversation(id).map((m) => m.attributes.chunk_index)).toEqual(["0"]);
  expect(h.events.forConversation(id)).toEqual([]);
});

test("4401 for a missing, forged or expired (beyond the 30 s tolerance) access token", async () => {
  const missing = rawConnect(h.url, { token: undefined });
  await refusedWith(missing, 4401, "unauthorized");
  refusalLog("unauthorized", null);
  const forged = rawConnect(h.url, { token: await signAccessToken("another-key-0123456789abcdef", "user-1") });
  await refusedWith(forged, 4401, "unauthorized");
  const expired = rawConnect(h.url, { token: await signAccessToken(h.tokenSecret, "user-1", -60) });
  await refusedWith(expired, 4401, "unauthorized");
});

test("4403 when the conversation belongs to another user", async () => {
  const owner = await open({ conversationId: "owned-by-user-1" });
  owner.client.send(testPcm(CHUNK));
  await owner.client.ackAtLeast(CHUNK);
  const intruder = rawConnect(h.url, { token: await h.token("user-2"), conversationId: "owned-by-user-1" });
  await refusedWith(intruder, 4403, "forbidden");
  refusalLog("forbidden", "owned-by-user-1");
  // The owner's socket was not disturbed.
  owner.client.send(testPcm(CHUNK, 2));
  await owner.client.ackAtLeast(CHUNK * 2);
});

test("4409 for a conversation record pinned to another environment", async () => {
  // A database shared by mistake holds another environment's conversation.
  await conversationRef(h.env.clients.firestore, "pinned-elsewhere").set({
    id: "pinned-elsewhere",
    environment: "prod",
    user_id: "user-1",
    codec: "pcm16",
    sample_rate: 8000,
    channels: 1,
    chunk_size: CHUNK,
    durable_position: 0,
    status: "in_progress",
  });
  const client = rawConnect(h.url, { token: await h.token(), conversationId: "pinned-elsewhere" });
  const error = await refusedWith(client, 4409, "wrong_environment");
  expect(error).toMatchObject({ environment: h.env.resources.environment, expected_environment: "prod" });
  refusalLog("wrong_environment", "pinned-elsewhere");
});

test("4410 when resuming a finalized conversation, with its final position and the text messages it stored", async () => {
  const { client, resume, id } = await open();
  const sessionId = client.messages.find((m) => m.type === "ready")?.session_id;
  client.send(testPcm(700));
  const segment = { id: "s1", start: 0, end: 1, text: "hi", speaker: "SPEAKER_00", is_user: true, person_id: null };
  client.json({ type: "segments", segments: [segment] });
  client.json({ type: "speaker_assigned", person_id: "p1", segment_ids: ["s1"] });
  client.json({ type: "finalize" });
  await client.next("finalized");
  const again = rawConnect(h.url, { token: await h.token(), resumeToken: resume });
  const error = await refusedWith(again, 4410, "conversation_finalized");
  expect(error).toMatchObject({ final_position: 700, durable_position: 700, finalize_reason: "client" });
  // Both text messages of the first socket are counted: an SDK that lost `finalized` knows they are stored.
  expect(error.events_recorded).toEqual({ [String(sessionId)]: 2 });
  refusalLog("conversation_finalized", id);
});

test("4413 for a pcm16 frame over 64 KiB, an Opus packet over 4,000 bytes, and a huge text frame", async () => {
  const pcm = await open();
  pcm.client.send(Buffer.alloc(64 * 1024 + 2));
  await refusedWith(pcm.client, 4413, "frame_too_large");
  refusalLog("frame_too_large", pcm.id);

  const opus = await open({ codec: "opus", sampleRate: 16000 });
  opus.client.send(Buffer.alloc(4001, 0xf8));
  await refusedWith(opus.client, 4413, "frame_too_large");

  const text = await open();
  text.client.send(JSON.stringify({ type: "segments", pad: "x".repeat(300 * 1024) }));
  await refusedWith(text.client, 4413, "frame_too_large");
});

test("4415 for an unsupported format, an odd pcm16 frame, and an invalid Opus packet", async () => {
  const format = rawConnect(h.url, { token: await h.token(), rawQuery: "codec=mp3" });
  await refusedWith(format, 4415, "bad_audio");
  const rate = rawConnect(h.url, { token: await h.token(), rawQuery: "sample_rate=44100" });
  await refusedWith(rate, 4415, "bad_audio");

  const odd = await open();
  odd.client.send(testPcm(CHUNK + 500));
  await odd.client.ackAtLeast(CHUNK);
  odd.client.send(Buffer.alloc(3));
  await refusedWith(odd.client, 4415, "bad_audio");
  refusalLog("bad_audio", odd.id);

  const opus = await open({ codec: "opus", sampleRate: 16000 });
  opus.client.send(Buffer.from([0xf8, 1, 2])); // a valid one-frame packet
  opus.client.send(Buffer.from([0x03, 0x00])); // code 3 with zero frames
  await refusedWith(opus.client, 4415, "bad_audio");

  await sentinel();
  expect(h.audio.forConversation(odd.id).map((m) => m.attributes.chunk_index)).toEqual(["0"]);
  expect(h.audio.forConversation(opus.id)).toEqual([]);
  expect(reassemble(h.audio.forConversation(odd.id)).body.equals(testPcm(CHUNK + 500).subarray(0, CHUNK))).toBe(true);
});

describe("1012, 1013 and 1011 (their own ingress instances)", () => {
  test("1012 on shutdown: complete chunks received are published and acknowledged first", async () => {
    const holder: { publisher?: GatedPublisher } = {};
    const instance = await h.startInstance({ publisher: GatedPublisher.factory(holder) });
    const { client, id, resume } = await open({}, instance.url);
    const audio = testPcm(CHUNK * 2 + 600, 4);
    client.send(audio);
    await until("two complete chunks held at the gate", () => (holder.publisher?.waiting ?? 0) === 2);
    const stopping = instance.close();
    holder.publisher?.release();
    await stopping;
    const error = await refusedWith(client, 1012, "restarting");
    expect(error.code).toBe("restarting");
    expect(client.acks().at(-1)).toBe(CHUNK * 2);
    const health = await fetch(`http://127.0.0.1:${instance.port}/healthz`).catch(() => undefined);
    expect(health).toBeUndefined(); // no longer listening

    // The client resumes on another instance from the acknowledged position.
    const resumed = rawConnect(h.url, { token: await h.token(), resumeToken: resume });
    expect((await resumed.next("ready")).position).toBe(CHUNK * 2);
    resumed.send(audio.subarray(CHUNK * 2));
    resumed.json({ type: "finalize" });
    await resumed.next("finalized");
    await h.audio.waitFor("three chunks", () => h.audio.forConversation(id).length >= 3);
    expect(reassemble(h.audio.forConversation(id)).body.equals(audio)).toBe(true);
  });

  test("1013 when the pipeline cannot keep up: the socket is slowed, then closed; nothing partial is written", async () => {
    const holder: { publisher?: GatedPublisher } = {};
    const instance = await h.startInstance({
      publisher: GatedPublisher.factory(holder),
      limits: { maxChunksInFlightPerSocket: 1, overloadCloseMs: 300 },
    });
    const { client, id } = await open({}, instance.url);
    client.send(testPcm(CHUNK * 3 + 200, 5));
    await refusedWith(client, 1013, "overloaded");
    refusalLog("overloaded", id);
    holder.publisher?.release();
    await sentinel();
    // Only complete chunks, and nothing marked final.
    const chunks = h.audio.forConversation(id);
    expect(chunks.every((c) => c.attributes.final === "false" && c.data.length === CHUNK)).toBe(true);
    await instance.close();
  });

  test("1013 when the instance has too many open sockets", async () => {
    const instance = await h.startInstance({ limits: { maxConnections: 1 } });
    const first = await open({}, instance.url);
    const second = rawConnect(instance.url, { token: await h.token() });
    await refusedWith(second, 1013, "overloaded");
    first.client.ws.close();
    await instance.close();
  });

  test("1011 on an unexpected fault (the audio topic vanished): nothing is acknowledged", async () => {
    const broken = await startIngressHarness("fault");
    try {
      const client = rawConnect(broken.url, { token: await broken.token() });
      const id = String((await client.next("ready")).conversation_id);
      await broken.env.clients.pubsub.topic(broken.env.resources.topics.audio).delete();
      client.send(testPcm(CHUNK));
      await refusedWith(client, 1011, "internal");
      expect(client.acks()).toEqual([]);
      const line = broken.logs.find((l) => l.severity === "ERROR" && l.conversation_id === id);
      expect(line?.environment).toBe(broken.env.resources.environment);
    } finally {
      await broken.close();
    }
  });
});
