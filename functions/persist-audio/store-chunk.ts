/**
 * Stores one chunk idempotently: exactly one object per chunk index, holding the first
 * bytes ever offered for that index, and one ChunkDoc indexing it.
 *
 *  1. ChunkDoc already there with the same digest: nothing to do (a redelivery).
 *  2. Claim the index by creating its ChunkClaimDoc: the first digest to be created wins
 *     (Firestore refuses a second create); a later message with another digest reads the
 *     winner and is a conflict that writes nothing. No transaction: a claim is one write,
 *     and holds no lock a dropped connection could leave behind.
 *  3. Write the object (identical bytes if a concurrent or crashed attempt also wrote it).
 *  4. Create the ChunkDoc, which is what readers trust.
 *
 * The storage emulator ignores generation preconditions, so step 2, not the object write,
 * is what makes a conflicting re-send harmless.
 */
import { FieldValue, type Firestore } from "@google-cloud/firestore";
import type { Bucket } from "@google-cloud/storage";
import { type ChunkClaimDoc, type ChunkDoc, CONVERTERS, chunkClaimRef, chunkRef } from "../../shared/firestore-schema";
import { GrpcStatus, hasGrpcStatus } from "../../shared/grpc-error";
import type { AudioChunk } from "./chunk-message";

export type StoreOutcome =
  | { readonly kind: "stored" }
  | { readonly kind: "already_stored" }
  | { readonly kind: "conflict"; readonly storedSha256: string };

/** Object metadata derived from the bytes alone, so every attempt writes the same object. */
export function objectMetadata(chunk: AudioChunk): Record<string, string> {
  const a = chunk.attributes;
  return {
    conversation_id: a.conversation_id,
    chunk_index: String(a.chunk_index),
    start: String(a.start),
    end: String(a.end),
    codec: a.codec,
    sample_rate: String(a.sample_rate),
    sha256: chunk.sha256,
  };
}

/** The claim a first attempt makes on the chunk's index: its digest wins the index. */
export function chunkClaim(chunk: AudioChunk): Omit<ChunkClaimDoc, "claimed_at"> {
  return {
    index: chunk.attributes.chunk_index,
    sha256: chunk.sha256,
    bytes: chunk.body.length,
    object: chunk.objectName,
    session_id: chunk.attributes.session_id,
  };
}

/**
 * The ChunkDoc readers trust, for a chunk whose digest won `claim`: it names the claiming
 * session, the same whichever attempt gets to write it first.
 */
export function chunkDoc(chunk: AudioChunk, claim: Pick<ChunkClaimDoc, "session_id">): Omit<ChunkDoc, "persisted_at"> {
  const a = chunk.attributes;
  return {
    index: a.chunk_index,
    start: a.start,
    end: a.end,
    final: a.final,
    object: chunk.objectName,
    bytes: chunk.body.length,
    sha256: chunk.sha256,
    session_id: claim.session_id,
    samples: chunk.samples,
  };
}

export async function storeChunk(db: Firestore, bucket: Bucket, chunk: AudioChunk): Promise<StoreOutcome> {
  const { conversation_id: conversationId, chunk_index: index } = chunk.attributes;

  const existing = (await chunkRef(db, conversationId, index).withConverter(CONVERTERS.chunk).get()).data();
  if (existing) {
    return existing.sha256 === chunk.sha256
      ? { kind: "already_stored" }
      : { kind: "conflict", storedSha256: existing.sha256 };
  }

  const claim = await claimIndex(db, chunk);
  if (claim.sha256 !== chunk.sha256) return { kind: "conflict", storedSha256: claim.sha256 };

  await bucket.file(chunk.objectName).save(chunk.body, {
    resumable: false,
    // The upload is checked against the digest Storage reports, as with the client's default
    // (CRC32C), but hashed natively: the client's CRC32C runs in JavaScript, and was this
    // worker's largest CPU cost per chunk.
    validation: "md5",
    contentType: "application/octet-stream",
    metadata: { metadata: objectMetadata(chunk) },
  });

  const doc = chunkDoc(chunk, claim);
  try {
    await chunkRef(db, conversationId, index).create({ ...doc, persisted_at: FieldValue.serverTimestamp() });
  } catch (error) {
    // The Firestore client reports a `create` of an existing document as ALREADY_EXISTS.
    if (hasGrpcStatus(error, GrpcStatus.ALREADY_EXISTS)) return { kind: "already_stored" };
    throw error;
  }
  return { kind: "stored" };
}

/**
 * The claim on the chunk's index: this chunk's, if it is the first created, else the one
 * that was (possibly this chunk's own, from an attempt whose answer was lost).
 */
async function claimIndex(db: Firestore, chunk: AudioChunk): Promise<Pick<ChunkClaimDoc, "sha256" | "session_id">> {
  const ref = chunkClaimRef(db, chunk.attributes.conversation_id, chunk.attributes.chunk_index);
  const fresh = chunkClaim(chunk);
  try {
    await ref.create({ ...fresh, claimed_at: FieldValue.serverTimestamp() });
    return fresh;
  } catch (error) {
    if (!hasGrpcStatus(error, GrpcStatus.ALREADY_EXISTS)) throw error;
  }
  const current = (await ref.withConverter(CONVERTERS.chunkClaim).get()).data();
  // Claims are never deleted: one that refused a create and then reads as absent is a fault.
  if (!current) throw new Error(`the claim on chunk ${chunk.attributes.chunk_index} exists but reads as absent`);
  return current;
}
