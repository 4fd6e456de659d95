/**
 * The conversation lifecycle under unfriendly timing (shared/lifecycle.ts), with real faults
 * in the real path:
 * - an events worker slowed by seconds: the API never answers `extraction: done` without
 *   every segment and assignment the client sent before `finalize`, and a client that heard
 *   `finalized` never reads `in_progress`;
 * - the final chunk's publish fails: nothing is recorded, the client re-sends its tail and
 *   the conversation holds every byte;
 * - text that arrives while the ingress finalizes is published and counted, not dropped.
 */
import { connect } from "../../client/index";
import type { CutChunk } from "../../functions/ingress/chunker";
import { type AudioFormat, IngressPublisher, type SessionTags } from "../../functions/ingress/publisher";
import { type RunningStack, startLocalStack } from "../../local/stack";
import { signAccessToken } from "../../shared/auth";
import { parseEnvironmentName } from "../../shared/environment";
import { type ConversationDoc, conversationRef } from "../../shared/firestore-schema";
import { createLogger } from "../../shared/logger";
import type { EventBody } from "../../shared/messages";
import type { PubSubHandler } from "../../shared/pubsub-event";
import { decodePcm16MonoWav } from "../../shared/wav";
import { loadVoiceFixtures } from "../support/extract-voices";
import { GatedPublisher } from "../support/ingress-gated-publisher";
import { type IngressHarness, reassemble, startIngressHarness } from "../support/ingress-harness";
import { rawConnect } from "../support/ingress-raw-client";
import { eventually as eventuallyWithin } from "../support/poll";
import { onRunningEmulators, uniqueEnvironmentName } from "../support/test-environment";

/** The shared wait, bounded at a minute (extraction after a slowed worker takes a while). */
const eventually = <T>(probe: () => Promise<T | undefined>, what: string) =>
  eventuallyWithin(probe, what, { timeoutMs: 60_000 });

const SAMPLE_RATE = 16000;

function voiceTrack(voice: string): Buffer {
  const clips = loadVoiceFixtures().filter((f) => f.voice === voice && f.sampleRate === SAMPLE_RATE);
  if (clips.length < 4) throw new Error(`fixture voice ${voice} missing`);
  return Buffer.concat(clips.slice(0, 4).map((c) => c.pcm));
}

interface Observation {
  status: string;
  segments: number;
  extraction: { status: string; people: Array<{ person_id: string; status: string }> };
}

describe("with the events worker slowed by seconds", () => {
  let stack: RunningStack;
  const env = parseEnvironmentName(uniqueEnvironmentName("lag"));
  const EVENTS_DELAY_MS = 3000;

  beforeAll(async () => {
    const slowEvents = (worker: string, _env: string, handler: PubSubHandler): PubSubHandler =>
      worker === "processEvents"
        ? async (event) => {
            await new Promise((r) => setTimeout(r, EVENTS_DELAY_MS));
            await handler(event);
          }
        : handler;
    stack = await startLocalStack({
      environments: [env],
      ...onRunningEmulators(),
      chunkSeconds: 1,
      logger: createLogger({ level: "silent" }),
      wrapWorker: slowEvents,
    });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it("goes from pending straight to a complete done, and never reads in_progress after `finalized`", async () => {
    const state = stack.state.envs[env];
    if (!state) throw new Error("no environment");
    const token = await signAccessToken(state.token_secret, "user-lag");
    const audio = Buffer.concat([voiceTrack("kal"), voiceTrack("slt")]); // 12 s each

    const session = await connect({
      url: state.ingress_url,
      token,
      sampleRate: SAMPLE_RATE,
      backoff: { initialDelayMs: 10, maxDelayMs: 50 },
    });
    await session.write(audio);
    // Segments, assignments and finalize back to back, on the last socket.
    session.sendSegments([
      { id: "a", start: 0, end: 12, speaker: "SPEAKER_00" },
      { id: "b", start: 12, end: 24, speaker: "SPEAKER_01" },
    ]);
    session.assignSpeaker("person-a", ["a"]);
    session.assignSpeaker("person-b", ["b"]);
    const finalized = await session.finalize();
    expect(finalized.position).toBe(audio.length);

    const seen: Observation[] = [];
    const done = await eventually(async () => {
      const response = await fetch(`${state.api_url}/v1/conversations/${finalized.conversationId}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const view = (await response.json()) as Observation;
      seen.push(view);
      return view.extraction.status === "pending" ? undefined : view;
    }, "extraction to finish");

    expect(seen.map((v) => v.status)).not.toContain("in_progress");
    // Every answer before the end was `pending`; the first other answer is the complete one.
    expect(seen.slice(0, -1).every((v) => v.extraction.status === "pending")).toBe(true);
    expect(done.status).toBe("finalized");
    expect(done.segments).toBe(2);
    expect(done.extraction.status).toBe("done");
    expect(done.extraction.people.map((p) => [p.person_id, p.status])).toEqual([
      ["person-a", "extracted"],
      ["person-b", "extracted"],
    ]);
    // The barrier was what waited: the API said `finalizing` while the events were delayed.
    expect(seen.some((v) => v.status === "finalizing")).toBe(true);

    const wav = await fetch(`${state.api_url}/v1/conversations/${finalized.conversationId}/audio.wav`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(decodePcm16MonoWav(Buffer.from(await wav.arrayBuffer())).pcm.equals(audio)).toBe(true);
  });
});

/** The real publisher, with event publishes held at a gate the test opens (Pub/Sub is slow to confirm). */
class EventsGatedPublisher extends IngressPublisher {
  held = 0;
  private readonly waiters: Array<() => void> = [];
  override async publishEvent(tags: SessionTags, body: EventBody, seq: number): Promise<string> {
    if (seq > 0) {
      this.held += 1;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    return await super.publishEvent(tags, body, seq);
  }
  release(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }
}

/** The real publisher, except that the first final chunk fails (Pub/Sub refused it). */
class FinalChunkFailsOnce extends IngressPublisher {
  failed = 0;
  override async publishChunk(tags: SessionTags, format: AudioFormat, chunk: CutChunk): Promise<string> {
    if (chunk.final && this.failed === 0) {
      this.failed += 1;
      throw new Error("injected: the final chunk could not be published");
    }
    return await super.publishChunk(tags, format, chunk);
  }
}

describe("finalizing at the ingress", () => {
  let h: IngressHarness;
  const failing: { publisher?: FinalChunkFailsOnce } = {};
  const gated: { publisher?: GatedPublisher } = {};

  beforeAll(async () => {
    h = await startIngressHarness("fin");
  });
  afterAll(async () => {
    await h?.close();
  });

  const record = async (id: string) =>
    (await conversationRef(h.env.clients.firestore, id).get()).data() as ConversationDoc;

  it("loses no tail when the final chunk's publish fails: the client re-sends it and every byte is stored", async () => {
    const instance = await h.startInstance({
      publisher: (runtime) => {
        failing.publisher = new FinalChunkFailsOnce(runtime.clients.pubsub, runtime.resources);
        return failing.publisher;
      },
    });
    const token = await h.token("user-tail");
    const audio = Buffer.alloc(8000 * 2 * 0.35); // 3.5 chunks of 0.1 s at 8 kHz
    for (let i = 0; i < audio.length; i += 2) audio.writeInt16LE(((i * 7919) % 65536) - 32768, i);
    const session = await connect({
      url: instance.url,
      token,
      sampleRate: 8000,
      backoff: { initialDelayMs: 10, maxDelayMs: 50 },
    });
    await session.write(audio);
    const finalized = await session.finalize();

    expect(failing.publisher?.failed).toBe(1);
    expect(finalized.position).toBe(audio.length);
    expect(session.stats.reconnects).toBeGreaterThanOrEqual(1);
    const doc = await record(finalized.conversationId);
    expect(doc).toMatchObject({ status: "finalizing", final_position: audio.length, durable_position: audio.length });
    const chunks = await eventually(async () => {
      const mine = h.audio.messages.filter((m) => m.attributes.conversation_id === finalized.conversationId);
      return mine.some((m) => m.attributes.final === "true") ? mine : undefined;
    }, "the final chunk");
    expect(reassemble(chunks).body.equals(audio)).toBe(true);
  });

  it("records no durable position past audio sent after a text message Pub/Sub has not confirmed", async () => {
    const holder: { publisher?: EventsGatedPublisher } = {};
    const instance = await h.startInstance({
      publisher: (runtime) => {
        holder.publisher = new EventsGatedPublisher(runtime.clients.pubsub, runtime.resources);
        return holder.publisher;
      },
    });
    const client = rawConnect(instance.url, { token: await h.token("user-order") });
    const ready = await client.next("ready");
    const id = String(ready.conversation_id);
    const chunk = 1600; // 0.1 s at 8 kHz: the harness's chunk
    client.json({ type: "segments", segments: [{ id: "before-audio", start: 0, end: 0.05 }] });
    client.send(Buffer.alloc(chunk * 2));
    await eventually(
      async () => (h.audio.forConversation(id).length >= 2 && (holder.publisher?.held ?? 0) > 0 ? true : undefined),
      "the audio published while the text is unconfirmed",
    );
    // The audio is in Pub/Sub, the text is not confirmed: nothing past it is recorded or acked.
    expect((await record(id)).durable_position).toBe(0);
    expect(client.acks()).toEqual([]);
    holder.publisher?.release();
    await client.ackAtLeast(chunk * 2);
    const doc = await record(id);
    expect(doc.durable_position).toBe(chunk * 2);
    expect(doc.events_recorded?.[String(ready.session_id)]).toBe(1);
    client.ws.close();
  });

  it("publishes and counts text that arrives while the conversation is being finalized", async () => {
    const instance = await h.startInstance({ publisher: GatedPublisher.factory(gated) });
    const client = rawConnect(instance.url, { token: await h.token("user-text") });
    const ready = await client.next("ready");
    client.send(Buffer.alloc(400)); // less than a chunk: it becomes the final chunk
    client.json({ type: "finalize" });
    await eventually(
      async () => ((gated.publisher?.waiting ?? 0) > 0 ? true : undefined),
      "the final chunk at the gate",
    );
    client.json({ type: "segments", segments: [{ id: "late-1", start: 0, end: 0.01 }] });
    const id = String(ready.conversation_id);
    await eventually(
      async () =>
        h.logs.find((l) => l.message === "event published" && l.conversation_id === id && l.seq === 1)
          ? true
          : undefined,
      "the segment published while the final chunk is held",
    );
    gated.publisher?.release();
    const finalized = await client.next("finalized");
    expect(finalized.position).toBe(400);

    const events = await eventually(async () => {
      const mine = h.events.messages.filter((m) => m.attributes.conversation_id === id);
      return mine.length >= 2 ? mine : undefined;
    }, "the segment and finalize events");
    const segments = events.filter((m) => m.attributes.event_type === "segments");
    expect(segments.map((m) => m.attributes.seq)).toEqual(["1"]);
    const doc = await record(id);
    expect(doc.status).toBe("finalizing");
    expect(doc.events_recorded?.[String(ready.session_id)]).toBe(1);
  });
});
