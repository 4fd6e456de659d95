/**
 * Stores one chunk idempotently: exactly one object per chunk index, holding the first
 * bytes ever offered for that index, and one ChunkDoc indexing it.
 *
 *  1. ChunkDoc already there with the same digest: nothing to do (a redelivery).
 *  2. Claim the index in a Firestore transaction (ChunkClaimDoc): the first digest wins;
 *     a later message with another digest is a conflict and writes nothing.
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

  const claimRef = chunkClaimRef(db, conversationId, index);
  const claim = await db.runTransaction(async (tx) => {
    const current = (await tx.get(claimRef.withConverter(CONVERTERS.chunkClaim))).data();
    if (current) return current;
    const fresh = chunkClaim(chunk);
    tx.create(claimRef, { ...fresh, claimed_at: FieldValue.serverTimestamp() });
    return fresh;
  });
  if (claim.sha256 !== chunk.sha256) return { kind: "conflict", storedSha256: claim.sha256 };

  await bucket.file(chunk.objectName).save(chunk.body, {
    resumable: false,
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
