/**
 * Object names in an environment's bucket (PROTOCOL.md section 4): everything of a
 * conversation under `conversations/{conversation_id}/`, every speaker sample under
 * `people/{person_id}/`.
 */
import type { Codec } from "./audio-format";

/** Chunk indexes are zero-padded so that a prefix listing returns them in stream order. */
export function paddedChunkIndex(index: number): string {
  return String(index).padStart(8, "0");
}

export function conversationPrefix(conversationId: string): string {
  return `conversations/${conversationId}/`;
}

/** One durable chunk: raw pcm16 bytes, or Opus packets framed by `frameOpusPackets`. */
export function chunkObjectName(conversationId: string, chunkIndex: number, codec: Codec): string {
  return `${conversationPrefix(conversationId)}chunks/${paddedChunkIndex(chunkIndex)}.${codec === "pcm16" ? "pcm" : "opus"}`;
}

export function personPrefix(personId: string): string {
  return `people/${personId}/`;
}

/** A speaker sample (PCM16 mono WAV) cut from a conversation. */
export function personSampleObjectName(personId: string, sampleId: string): string {
  return `${personPrefix(personId)}samples/${sampleId}.wav`;
}
