/**
 * The edge of the persist-audio worker: turns a received Pub/Sub message into a chunk it
 * may store, or a rejection. Pure: no I/O, so every rule is unit-tested.
 *
 * The checks every worker shares (the environment attribute first, then the attributes)
 * are functions/read-message.ts's.
 */
import crypto from "node:crypto";
import { MAX_OPUS_PACKET_BYTES, unframeOpusPackets } from "../../shared/audio-format";
import type { EnvironmentName } from "../../shared/environment";
import type { ConversationDoc } from "../../shared/firestore-schema";
import { type AudioChunkAttributes, audioChunkAttributesSchema } from "../../shared/messages";
import { opusPacketSampleCount } from "../../shared/opus-decoder";
import type { ReceivedMessage } from "../../shared/pubsub-event";
import { chunkObjectName } from "../../shared/storage-paths";
import type { Parsed, Rejection } from "../dead-letter";
import { readAttributes } from "../read-message";

/** A chunk on the wire (the Pub/Sub message's attributes and body), validated, as persist-audio stores it. */
export interface AudioChunk {
  readonly attributes: AudioChunkAttributes;
  readonly body: Buffer;
  /** Hex SHA-256 of `body`. */
  readonly sha256: string;
  /** PCM samples the chunk decodes to. */
  readonly samples: number;
  readonly objectName: string;
}

/** PCM samples in a chunk body, or why the body does not match its attributes. */
export function bodySamples(attributes: AudioChunkAttributes, body: Buffer): { samples: number } | { problem: string } {
  const units = attributes.end - attributes.start;
  if (attributes.codec === "pcm16") {
    if (body.length !== units) return { problem: `pcm16 body has ${body.length} bytes, attributes say ${units}` };
    if (body.length % 2 !== 0) return { problem: `pcm16 body has an odd number of bytes (${body.length})` };
    return { samples: body.length / 2 };
  }
  let packets: Buffer[];
  try {
    packets = unframeOpusPackets(body);
  } catch (error) {
    return { problem: `opus body framing is broken: ${(error as Error).message}` };
  }
  if (packets.length !== units) return { problem: `opus body has ${packets.length} packets, attributes say ${units}` };
  let samples = 0;
  for (const [i, packet] of packets.entries()) {
    if (packet.length === 0 || packet.length > MAX_OPUS_PACKET_BYTES) {
      return { problem: `opus packet ${i} is ${packet.length} bytes (must be 1 to ${MAX_OPUS_PACKET_BYTES})` };
    }
    try {
      samples += opusPacketSampleCount(packet, attributes.sample_rate);
    } catch (error) {
      return { problem: `opus packet ${i}: ${(error as Error).message}` };
    }
  }
  return { samples };
}

export function parseAudioChunkMessage(
  message: ReceivedMessage,
  environment: EnvironmentName,
): Parsed<{ readonly chunk: AudioChunk }> {
  const read = readAttributes(message, environment, audioChunkAttributesSchema, "audio chunk");
  if (!read.ok) return read;
  const { attributes } = read;
  const counted = bodySamples(attributes, message.data);
  if ("problem" in counted) {
    return {
      ok: false,
      rejection: { reason: "invalid_body", detail: `chunk ${attributes.chunk_index}: ${counted.problem}` },
    };
  }
  return {
    ok: true,
    chunk: {
      attributes,
      body: message.data,
      sha256: crypto.createHash("sha256").update(message.data).digest("hex"),
      samples: counted.samples,
      objectName: chunkObjectName(attributes.conversation_id, attributes.chunk_index, attributes.codec),
    },
  };
}

/**
 * A chunk that contradicts its conversation document (another user, codec, rate or chunk
 * size, or audio past the final position) is never stored. A missing document is fine:
 * chunks may arrive before the ingress's write is visible, and tests run without it.
 */
export function checkAgainstConversation(
  attributes: AudioChunkAttributes,
  conversation:
    | Pick<ConversationDoc, "user_id" | "codec" | "sample_rate" | "chunk_size" | "final_position">
    | undefined,
): Rejection | undefined {
  if (!conversation) return undefined;
  const differences: string[] = [];
  if (attributes.user_id !== conversation.user_id) differences.push("user_id");
  if (attributes.codec !== conversation.codec) differences.push(`codec (${attributes.codec} vs ${conversation.codec})`);
  if (attributes.sample_rate !== conversation.sample_rate)
    differences.push(`sample_rate (${attributes.sample_rate} vs ${conversation.sample_rate})`);
  if (attributes.chunk_size !== conversation.chunk_size)
    differences.push(`chunk_size (${attributes.chunk_size} vs ${conversation.chunk_size})`);
  if (differences.length > 0) {
    return {
      reason: "conversation_mismatch",
      detail: `chunk ${attributes.chunk_index} differs from its conversation in ${differences.join(", ")}`,
    };
  }
  if (conversation.final_position !== null && attributes.end > conversation.final_position) {
    return {
      reason: "beyond_final_position",
      detail: `chunk ${attributes.chunk_index} ends at ${attributes.end}, past the final position ${conversation.final_position}`,
    };
  }
  return undefined;
}
