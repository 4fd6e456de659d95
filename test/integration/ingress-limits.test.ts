/**
 * Limits that keep one greedy client from hurting anyone else, through the real ingress on
 * the emulators: text frames count against the same in-flight and byte budgets as audio
 * (the socket's and the process's), and the per-user limits (live sockets, conversations
 * started per minute, a conversation's audio length and segment count) are refused with
 * 4429 naming the limit.
 */
import { Timestamp } from "@google-cloud/firestore";
import { liveSocketRef } from "../../shared/firestore-schema";
import { MAX_TEXT_FRAME_BYTES } from "../../shared/protocol";
import { testPcm } from "../support/ingress-audio";
import { GatedPublisher } from "../support/ingress-gated-publisher";
import { type IngressHarness, startIngressHarness } from "../support/ingress-harness";
import { type RawClient, rawConnect } from "../support/ingress-raw-client";

let h: IngressHarness;
beforeAll(async () => {
  h = await startIngressHarness("limits", {
    settings: {
      TETHER_MAX_LIVE_SOCKETS_PER_USER: "2",
      TETHER_MAX_CONVERSATIONS_PER_MINUTE: "3",
      TETHER_MAX_CONVERSATION_SECONDS: "1",
      TETHER_MAX_SEGMENTS_PER_CONVERSATION: "5",
    },
  });
});
afterAll(async () => {
  await h?.close();
});

async function refusedWith(client: RawClient, closeCode: number, code: string): Promise<Record<string, unknown>> {
  const closed = await client.closed;
  expect(closed.code).toBe(closeCode);
  const error = client.messages.find((m) => m.type === "error");
  expect(error).toMatchObject({ type: "error", code });
  return error ?? {};
}

async function open(
  userId: string,
  options: Parameters<typeof rawConnect>[1] = {},
  url = h.url,
): Promise<{ client: RawClient; id: string; resume: string }> {
  const client = rawConnect(url, { token: await h.token(userId), ...options });
  const ready = await client.next("ready");
  return { client, id: String(ready.conversation_id), resume: String(ready.resume_token) };
}

/** The 4429 refusal: its error names the limit and its value, and a log line says so. */
async function tooMany(client: RawClient, limit: string, value: number): Promise<void> {
  const error = await refusedWith(client, 4429, "too_many");
  expect(error).toMatchObject({ limit, value });
  expect(String(error.message)).toContain(`${limit}: ${value}`);
  expect(h.logs.some((l) => l.code === "too_many" && l.environment === h.env.resources.environment && l.severity)).toBe(
    true,
  );
}

async function closeAll(...clients: RawClient[]): Promise<void> {
  for (const client of clients) client.ws.close();
  await Promise.all(clients.map((client) => client.closed));
}

/** A segments message of about `bytes` bytes (segments of at most 100,000 characters of text). */
function bigSegments(id: string, bytes: number): string {
  const segments = [0, 1, 2].map((i) => ({ id: `${id}-${i}`, start: i, end: i + 1, text: "" }));
  const skeleton = JSON.stringify({ type: "segments", segments }).length;
  const each = Math.floor((bytes - skeleton) / 3);
  return JSON.stringify({ type: "segments", segments: segments.map((s) => ({ ...s, text: "x".repeat(each) })) });
}

describe("text frames count against the in-flight and byte budgets", () => {
  test("a client flooding 256 KiB text frames faster than Pub/Sub confirms them is slowed, then 1013", async () => {
    const holder: { publisher?: GatedPublisher } = {};
    const instance = await h.startInstance({
      publisher: GatedPublisher.factory(holder, { gateEvents: true }),
      limits: { overloadCloseMs: 500 },
    });
    const client = rawConnect(instance.url, { token: await h.token("flooder") });
    await client.next("ready");
    const frames = 40;
    // The same segment ids each time (a re-send replaces): only the byte budgets apply.
    for (let i = 0; i < frames; i += 1) client.send(bigSegments("s", MAX_TEXT_FRAME_BYTES - 16));
    const error = await refusedWith(client, 1013, "overloaded");
    expect(String(error.message)).toContain("pipeline");
    // The socket stopped being read at 1 MiB in flight: a few frames, not the 40 sent (10 MiB).
    const held = holder.publisher?.eventsWaiting ?? 0;
    expect(held).toBeGreaterThanOrEqual(4);
    expect(held).toBeLessThanOrEqual(8);
    const line = h.logs.find((l) => l.code === "overloaded" && l.user_id === "flooder");
    expect(Number(line?.in_flight_event_bytes)).toBeLessThanOrEqual(8 * MAX_TEXT_FRAME_BYTES);
    holder.publisher?.release();
    await instance.close();
  });

  test("text counts against the process's byte budget too: below the per-socket one, it binds first", async () => {
    const holder: { publisher?: GatedPublisher } = {};
    // Two frames' worth for the whole process, where one socket alone may hold four.
    const instance = await h.startInstance({
      publisher: GatedPublisher.factory(holder, { gateEvents: true }),
      limits: { overloadCloseMs: 500, maxInFlightBytes: 2 * MAX_TEXT_FRAME_BYTES },
    });
    const client = rawConnect(instance.url, { token: await h.token("flooder-2") });
    await client.next("ready");
    for (let i = 0; i < 20; i += 1) client.send(bigSegments("s", MAX_TEXT_FRAME_BYTES - 16));
    await refusedWith(client, 1013, "overloaded");
    // The process budget, plus the one message that crossed it: not the socket's four.
    const held = holder.publisher?.eventsWaiting ?? 0;
    expect(held).toBeGreaterThanOrEqual(2);
    expect(held).toBeLessThanOrEqual(3);
    holder.publisher?.release();
    await instance.close();
  });
});

describe("per-user limits: 4429 naming the limit and its value", () => {
  test("live sockets per user, counted across ingress instances; a resume does not count twice", async () => {
    const other = await h.startInstance();
    const a = await open("u-sockets");
    const b = await open("u-sockets", {}, other.url);
    await tooMany(rawConnect(h.url, { token: await h.token("u-sockets") }), "live_sockets", 2);
    await tooMany(rawConnect(other.url, { token: await h.token("u-sockets") }), "live_sockets", 2);
    // Another user is not affected.
    const bystander = await open("u-bystander");
    // Resuming one of the two conversations (its socket is superseded) is admitted.
    const resumed = rawConnect(h.url, { token: await h.token("u-sockets"), resumeToken: b.resume });
    expect((await resumed.next("ready")).conversation_id).toBe(b.id);
    // Closed sockets' leases go: a new socket is admitted.
    await closeAll(a.client, b.client);
    const c = await open("u-sockets");
    await closeAll(resumed, c.client, bystander.client);
    await other.close();
  });

  test("after an instance dies, its conversations resume though their dead leases still count", async () => {
    const a = await open("u-storm");
    const b = await open("u-storm");
    // b's socket was on an instance killed by SIGKILL: its lease outlives it, and a's resume
    // comes while it is still valid.
    await liveSocketRef(h.env.clients.firestore, "u-storm", "dead-b").set({
      conversation_id: b.id,
      expires_at: Timestamp.fromMillis(Date.now() + 60_000),
    });
    const resumedA = rawConnect(h.url, { token: await h.token("u-storm"), resumeToken: a.resume });
    expect((await resumedA.next("ready")).conversation_id).toBe(a.id);
    const resumedB = rawConnect(h.url, { token: await h.token("u-storm"), resumeToken: b.resume });
    expect((await resumedB.next("ready")).conversation_id).toBe(b.id);
    // A third conversation is still one too many.
    await tooMany(rawConnect(h.url, { token: await h.token("u-storm") }), "live_sockets", 2);
    await closeAll(a.client, b.client, resumedA, resumedB);
  });

  test("a socket of a killed instance counts only until its lease expires", async () => {
    // What an instance killed by SIGKILL leaves: leases nobody renews or deletes.
    const expiresAt = Timestamp.fromMillis(Date.now() + 1_500);
    for (const session of ["dead-1", "dead-2"]) {
      await liveSocketRef(h.env.clients.firestore, "u-killed", session).set({
        conversation_id: `conv-${session}`,
        expires_at: expiresAt,
      });
    }
    await tooMany(rawConnect(h.url, { token: await h.token("u-killed") }), "live_sockets", 2);
    let admitted: RawClient | undefined;
    for (let attempt = 0; admitted === undefined && attempt < 100; attempt += 1) {
      const client = rawConnect(h.url, { token: await h.token("u-killed") });
      const outcome = await Promise.race([
        client.next("ready").then(() => "ready"),
        client.closed.then(() => "closed"),
      ]);
      if (outcome === "ready") admitted = client;
      else await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(admitted).toBeDefined();
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt.toMillis());
    if (admitted) await closeAll(admitted);
  });

  test("conversations started per minute; resumes do not count", async () => {
    const started = [];
    for (let i = 0; i < 3; i += 1) {
      const conversation = await open("u-rate");
      await closeAll(conversation.client); // two live sockets at most
      started.push(conversation);
    }
    await tooMany(rawConnect(h.url, { token: await h.token("u-rate") }), "conversations_per_minute", 3);
    await tooMany(
      rawConnect(h.url, { token: await h.token("u-rate"), conversationId: "client-chosen-rate-4" }),
      "conversations_per_minute",
      3,
    );
    const first = started[0];
    if (first === undefined) throw new Error("no conversation started");
    const resumed = rawConnect(h.url, { token: await h.token("u-rate"), resumeToken: first.resume });
    expect((await resumed.next("ready")).conversation_id).toBe(first.id);
    await closeAll(resumed);
  });

  test("a conversation's audio: the frame that would pass it is refused; what came before is durable", async () => {
    const limit = 8000 * 2; // 1 s of 8 kHz pcm16
    const { client, resume } = await open("u-audio");
    const audio = testPcm(limit + 2, 3);
    client.send(audio.subarray(0, limit));
    await client.ackAtLeast(limit);
    client.send(audio.subarray(limit));
    await tooMany(client, "conversation_audio_seconds", 1);
    // The conversation can still be finalized, at its limit.
    const resumed = rawConnect(h.url, { token: await h.token("u-audio"), resumeToken: resume });
    expect((await resumed.next("ready")).position).toBe(limit);
    resumed.json({ type: "finalize" });
    expect((await resumed.next("finalized")).position).toBe(limit);
  });

  test("a conversation's segments: distinct ids count, re-sent ids do not; the message passing it is refused whole", async () => {
    const { client, id } = await open("u-segments");
    const segments = (ids: string[]) => ({
      type: "segments",
      segments: ids.map((sid, i) => ({ id: sid, start: i, end: i + 1 })),
    });
    client.json(segments(["s1", "s2", "s3"]));
    client.json(segments(["s1", "s2", "s3"])); // replaces: still 3
    client.json(segments(["s4", "s5"]));
    client.json(segments(["s6"]));
    await tooMany(client, "conversation_segments", 5);
    await h.events.waitFor("three segments messages", () => h.events.forConversation(id).length >= 3);
    const published = h.events.forConversation(id).flatMap((m) => {
      const body = JSON.parse(m.data.toString()) as { segments?: Array<{ id: string }> };
      return (body.segments ?? []).map((s) => s.id);
    });
    expect(published).not.toContain("s6");
  });
});
