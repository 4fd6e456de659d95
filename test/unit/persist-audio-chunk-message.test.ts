/** The persist-audio worker's edge: which messages are stored, and why others are rejected. */

import { checkAgainstConversation, parseAudioChunkMessage } from "../../functions/persist-audio/chunk-message";
import { frameOpusPackets } from "../../shared/audio-format";
import { parseEnvironmentName } from "../../shared/environment";
import type { ReceivedMessage } from "../../shared/pubsub-event";
import { type ChunkStream, chunkMessage } from "../support/workers-messages";

const staging = parseEnvironmentName("staging");
const pcmStream: ChunkStream = {
  environment: "staging",
  conversationId: "conv-12345678",
  userId: "user-1",
  codec: "pcm16",
  sampleRate: 16000,
  chunkSize: 8,
};
const opusStream: ChunkStream = { ...pcmStream, codec: "opus", chunkSize: 3 };

function received(message: { data: Buffer; attributes: Record<string, string> }): ReceivedMessage {
  return { id: "m1", publishTime: undefined, orderingKey: undefined, deliveryAttempt: undefined, ...message };
}

/** A 20 ms SILK packet header followed by payload bytes. */
const packet = (n: number) => Buffer.from([0b00001_000, n, n]);

describe("parseAudioChunkMessage", () => {
  it("accepts a full pcm16 chunk and names its object, digest and sample count", () => {
    const message = chunkMessage(pcmStream, { index: 2, start: 16, end: 24, final: false }, Buffer.alloc(8, 1));
    const parsed = parseAudioChunkMessage(received(message), staging);
    if (!parsed.ok) throw new Error(parsed.rejection.detail);
    expect(parsed.chunk.objectName).toBe("conversations/conv-12345678/chunks/00000002.pcm");
    expect(parsed.chunk.samples).toBe(4);
    expect(parsed.chunk.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("accepts a short final opus chunk and counts samples from the packets", () => {
    const message = chunkMessage(
      opusStream,
      { index: 1, start: 3, end: 5, final: true },
      frameOpusPackets([packet(1), packet(2)]),
    );
    const parsed = parseAudioChunkMessage(received(message), staging);
    if (!parsed.ok) throw new Error(parsed.rejection.detail);
    expect(parsed.chunk.samples).toBe(640);
    expect(parsed.chunk.objectName).toBe("conversations/conv-12345678/chunks/00000001.opus");
  });

  it("rejects another environment's message before looking at anything else", () => {
    const message = chunkMessage(
      { ...pcmStream, environment: "prod" },
      { index: 0, start: 0, end: 8, final: false },
      Buffer.alloc(3),
    );
    const parsed = parseAudioChunkMessage(received(message), staging);
    expect(parsed).toEqual({
      ok: false,
      rejection: { reason: "wrong_environment", detail: expect.stringContaining('"prod"') },
    });
    const { environment: _dropped, ...untagged } = message.attributes;
    const missing = parseAudioChunkMessage(received({ data: message.data, attributes: untagged }), staging);
    expect(missing.ok || missing.rejection.reason).toBe("wrong_environment");
  });

  it.each([
    ["start off the chunk grid", { start: "4" }],
    ["a non-final short chunk", { end: "20" }],
    ["an unknown codec", { codec: "flac" }],
    ["an unsupported sample rate", { sample_rate: "44100" }],
    ["another schema version", { schema_version: "2" }],
  ])("rejects %s as invalid_schema", (_, override) => {
    const message = chunkMessage(pcmStream, { index: 2, start: 16, end: 24, final: false }, Buffer.alloc(8));
    const parsed = parseAudioChunkMessage(
      received({ data: message.data, attributes: { ...message.attributes, ...override } }),
      staging,
    );
    expect(parsed.ok || parsed.rejection.reason).toBe("invalid_schema");
  });

  it.each([
    ["a pcm16 body shorter than its range", pcmStream, { index: 0, start: 0, end: 8, final: false }, Buffer.alloc(6)],
    ["an odd pcm16 final chunk", pcmStream, { index: 0, start: 0, end: 7, final: true }, Buffer.alloc(7)],
    ["broken opus framing", opusStream, { index: 0, start: 0, end: 3, final: false }, Buffer.from([0, 9, 1])],
    [
      "fewer opus packets than units",
      opusStream,
      { index: 0, start: 0, end: 3, final: false },
      frameOpusPackets([packet(1)]),
    ],
    [
      "an empty opus packet",
      opusStream,
      { index: 0, start: 0, end: 1, final: true },
      frameOpusPackets([Buffer.alloc(0)]),
    ],
    [
      "an opus packet over 120 ms",
      opusStream,
      { index: 0, start: 0, end: 1, final: true },
      frameOpusPackets([Buffer.from([0b11111_011, 48])]),
    ],
  ])("rejects %s as invalid_body", (_, stream, chunk, body) => {
    const parsed = parseAudioChunkMessage(received(chunkMessage(stream, chunk, body)), staging);
    expect(parsed.ok || parsed.rejection.reason).toBe("invalid_body");
  });
});

describe("checkAgainstConversation", () => {
  const attributes = (() => {
    const parsed = parseAudioChunkMessage(
      received(chunkMessage(pcmStream, { index: 2, start: 16, end: 24, final: false }, Buffer.alloc(8))),
      staging,
    );
    if (!parsed.ok) throw new Error(parsed.rejection.detail);
    return parsed.chunk.attributes;
  })();
  const conversation = {
    user_id: "user-1",
    codec: "pcm16",
    sample_rate: 16000,
    chunk_size: 8,
    final_position: null,
  } as const;

  it("accepts a chunk that matches, or one whose conversation document is not there yet", () => {
    expect(checkAgainstConversation(attributes, conversation)).toBeUndefined();
    expect(checkAgainstConversation(attributes, undefined)).toBeUndefined();
  });

  it("rejects a chunk of another user, codec, rate or chunk size", () => {
    for (const other of [
      { user_id: "user-2" },
      { codec: "opus" as const },
      { sample_rate: 8000 as const },
      { chunk_size: 16 },
    ]) {
      expect(checkAgainstConversation(attributes, { ...conversation, ...other })?.reason).toBe("conversation_mismatch");
    }
  });

  it("rejects audio past the final position, and accepts audio up to it", () => {
    expect(checkAgainstConversation(attributes, { ...conversation, final_position: 20 })?.reason).toBe(
      "beyond_final_position",
    );
    expect(checkAgainstConversation(attributes, { ...conversation, final_position: 24 })).toBeUndefined();
  });
});
