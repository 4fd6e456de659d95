/**
 * Object names in an environment's bucket (PROTOCOL.md section 4): everything of a
 * conversation under `conversations/{conversation_id}/`, every speaker sample under
 * `people/{person_id}/{user_key}/`: person ids are the client's, so each user's `p1` is a
 * profile of its own, kept apart by the user's key.
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

/**
 * A user's key: the digest of the token's `sub` that firestore-schema.ts's `userKey` makes
 * (a `sub` may hold `/`, which no object path segment may). Branded so that a raw user id
 * cannot be passed where a key is meant.
 */
export type UserKey = string & { readonly __userKey: unique symbol };

/** The length of every user key (a base64url SHA-256), for the longest object names. */
export const USER_KEY_LENGTH = 43;

/** One user's profile of `personId`: its samples, and nothing of another user's `personId`. */
export function personPrefix(personId: string, user: UserKey): string {
  return `people/${personId}/${user}/`;
}

/** A speaker sample (PCM16 mono WAV) cut from a conversation. */
export function personSampleObjectName(personId: string, user: UserKey, sampleId: string): string {
  return `${personPrefix(personId, user)}samples/${sampleId}.wav`;
}
