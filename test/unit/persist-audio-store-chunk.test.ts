/**
 * The pure parts of storing a chunk (functions/persist-audio/store-chunk.ts): what the
 * object and the ChunkDoc hold. Every attempt to store one chunk (a redelivery, a
 * concurrent copy, a re-send by a later socket) must leave the same ChunkDoc, so it
 * depends on the chunk's bytes and position and on the create that won, never on which
 * message got there. The writes themselves are tested
 * against the emulators (test/integration).
 */
import { type AudioChunk, parseAudioChunkMessage } from "../../functions/persist-audio/chunk-message";
import { chunkDoc, objectMetadata } from "../../functions/persist-audio/store-chunk";
import { parseEnvironmentName } from "../../shared/environment";
import type { ReceivedMessage } from "../../shared/pubsub-event";
import { type ChunkStream, chunkMessage } from "../support/workers-messages";

const stream: ChunkStream = {
  environment: "staging",
  conversationId: "conv-12345678",
  userId: "user-1",
  codec: "pcm16",
  sampleRate: 16000,
  chunkSize: 8,
};

function chunk(sessionId: string, body = Buffer.alloc(8, 7), final = false): AudioChunk {
  const message = chunkMessage(stream, { index: 2, start: 16, end: 24, final }, body, sessionId);
  const received: ReceivedMessage = {
    id: `m-${sessionId}`,
    publishTime: undefined,
    orderingKey: undefined,
    deliveryAttempt: undefined,
    ...message,
  };
  const parsed = parseAudioChunkMessage(received, parseEnvironmentName("staging"));
  if (!parsed.ok) throw new Error(parsed.rejection.detail);
  return parsed.chunk;
}

describe("objectMetadata", () => {
  it("describes the chunk's place in the conversation and its digest", () => {
    const c = chunk("session-1");
    expect(objectMetadata(c)).toEqual({
      conversation_id: "conv-12345678",
      chunk_index: "2",
      start: "16",
      end: "24",
      codec: "pcm16",
      sample_rate: "16000",
      sha256: c.sha256,
      session_id: "session-1",
    });
  });

  it("differs only in the sending session for the same bytes sent by another socket", () => {
    const { session_id: a, ...first } = objectMetadata(chunk("session-1"));
    const { session_id: b, ...second } = objectMetadata(chunk("session-2"));
    expect(second).toEqual(first);
    expect([a, b]).toEqual(["session-1", "session-2"]);
  });

  it("differs for other bytes at the same index (their digest)", () => {
    expect(objectMetadata(chunk("session-1", Buffer.alloc(8, 9))).sha256).not.toBe(
      objectMetadata(chunk("session-1")).sha256,
    );
  });
});

describe("chunkDoc", () => {
  it("indexes the stored object with the chunk's range, size, digest and samples", () => {
    const c = chunk("session-1", Buffer.alloc(8, 7), true);
    expect(chunkDoc(c, { session_id: "session-1" })).toEqual({
      index: 2,
      start: 16,
      end: 24,
      final: true,
      object: "conversations/conv-12345678/chunks/00000002.pcm",
      bytes: 8,
      sha256: c.sha256,
      session_id: "session-1",
      samples: 4,
    });
  });

  it("names the session whose create won, whichever attempt writes it", () => {
    const first = chunk("session-1");
    const redelivered = chunk("session-2");
    const winner = { session_id: "session-1" };
    expect(chunkDoc(redelivered, winner)).toEqual(chunkDoc(first, winner));
    expect(chunkDoc(redelivered, winner).session_id).toBe("session-1");
  });
});
