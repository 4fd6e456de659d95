/**
 * Reused pcm16 chunk buffers: a buffer comes back only once its chunk's publish is confirmed
 * (or its partial chunk was dropped), so a chunk still on its way to Pub/Sub keeps its bytes
 * while later chunks of the same socket are cut.
 */
import { Timestamp } from "@google-cloud/firestore";
import { ChunkBuffers } from "../../functions/ingress/chunk-buffers";
import { Chunker, type CutChunk } from "../../functions/ingress/chunker";
import { DurableCommits } from "../../functions/ingress/durable-commits";
import type { LiveConversation } from "../../functions/ingress/live-conversation";
import { PublishBudget } from "../../functions/ingress/publish-budget";
import type { IngressPublisher, SessionTags } from "../../functions/ingress/publisher";
import { createLogger } from "../../shared/logger";
import { testPcm } from "../support/ingress-audio";

const CHUNK = 1000;

/** Chunk publishes held until the test settles them; each records the bytes it was given. */
class HeldPublisher {
  readonly held: Array<{ chunk: CutChunk; sent: Buffer; settle: (ok: boolean) => void }> = [];

  async publishChunk(_tags: SessionTags, _format: unknown, chunk: CutChunk): Promise<string> {
    const sent = Buffer.from(chunk.body);
    return await new Promise<string>((resolve, reject) =>
      this.held.push({
        chunk,
        sent,
        settle: (ok) => (ok ? resolve(`m${chunk.index}`) : reject(new Error("injected: publish refused"))),
      }),
    );
  }
}

function socketWith(buffers: ChunkBuffers) {
  const publisher = new HeldPublisher();
  const failures: string[] = [];
  const conversation = {
    format: { codec: "pcm16", sampleRate: 16000, chunkSize: CHUNK },
    commit: async () => ({ ok: true, updateTime: Timestamp.now() }),
  } as unknown as LiveConversation;
  const commits = new DurableCommits({
    socket: { sendJson: () => true },
    publisher: publisher as unknown as IngressPublisher,
    budget: new PublishBudget(1 << 30),
    conversation,
    tags: { environment: "dev", conversationId: "c1", userId: "u1", sessionId: "s1", sessionOrdinal: 1 },
    durablePosition: 0,
    logger: () => createLogger({ level: "silent" }),
    load: () => undefined,
    failed: (_error, context) => failures.push(context),
    lost: () => undefined,
  });
  const chunker = new Chunker("pcm16", CHUNK, 0, buffers);
  const push = (frame: Buffer): void => {
    commits.received(frame.length);
    for (const chunk of chunker.push(frame)) commits.publishChunk(chunk);
  };
  return { publisher, commits, chunker, push, failures };
}

describe("ChunkBuffers", () => {
  it("hands a given buffer back for the same size only, up to its idle bound", () => {
    const buffers = new ChunkBuffers(2500);
    const a = buffers.take(1000);
    const b = buffers.take(1000);
    const c = buffers.take(1000);
    buffers.give(a);
    buffers.give(b);
    buffers.give(c);
    expect(buffers.heldBytes).toBe(2000);
    expect(buffers.take(2000)).not.toBe(a);
    expect([buffers.take(1000), buffers.take(1000)]).toEqual(expect.arrayContaining([a, b]));
    expect(buffers.heldBytes).toBe(0);
  });
});

describe("Chunk buffers and publishes", () => {
  const audio = testPcm(5 * CHUNK, 7);

  it("publishes every chunk's own bytes while earlier publishes are held, and reuses only confirmed buffers", async () => {
    const buffers = new ChunkBuffers(1 << 20);
    const { publisher, commits, push, failures } = socketWith(buffers);
    for (let offset = 0; offset < 3 * CHUNK; offset += 300) push(audio.subarray(offset, offset + 300));
    expect(publisher.held.map((h) => h.chunk.index)).toEqual([0, 1, 2]);
    expect(buffers.heldBytes).toBe(0);

    // Chunk 0 confirmed: its buffer is the next one filled, and nothing held changes.
    publisher.held[0]?.settle(true);
    await new Promise((resolve) => setImmediate(resolve));
    expect(buffers.heldBytes).toBe(CHUNK);
    const firstBuffer = publisher.held[0]?.chunk.body.buffer;
    for (let offset = 3 * CHUNK; offset < 4 * CHUNK; offset += 250) push(audio.subarray(offset, offset + 250));
    expect(publisher.held[3]?.chunk.body.buffer).toBe(firstBuffer);
    expect(buffers.heldBytes).toBe(0);

    // A refused publish does not give its buffer back: its RPC's fate is unknown.
    publisher.held[1]?.settle(false);
    publisher.held[2]?.settle(true);
    publisher.held[3]?.settle(true);
    await commits.settled();
    expect(failures).toEqual(["publishing chunk 1 failed"]);
    expect(buffers.heldBytes).toBe(2 * CHUNK);

    for (const { chunk, sent } of publisher.held) {
      expect(sent.equals(audio.subarray(chunk.start, chunk.end))).toBe(true);
    }
    // The refused chunk's bytes are untouched (a retry could still read them).
    expect(publisher.held[1]?.chunk.body.equals(audio.subarray(CHUNK, 2 * CHUNK))).toBe(true);
  });

  it("gives a dropped partial chunk's buffer back, and a chunk's buffer only once", () => {
    const buffers = new ChunkBuffers(1 << 20);
    const chunker = new Chunker("pcm16", CHUNK, 0, buffers);
    const [chunk] = chunker.push(audio.subarray(0, CHUNK + 10));
    expect(chunker.dropPartial()).toBe(10);
    expect(buffers.heldBytes).toBe(CHUNK);
    chunk?.recycle?.();
    chunk?.recycle?.();
    expect(buffers.heldBytes).toBe(2 * CHUNK);
    expect(chunker.takeFinal()).toBeUndefined();
  });
});
