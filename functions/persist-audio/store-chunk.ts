/**
 * Stores one chunk idempotently: exactly one object per chunk index, holding the first
 * bytes ever offered for that index, and one ChunkDoc indexing it.
 *
 *  1. Create the object only if no object has its name (`ifGenerationMatch: 0`): of
 *     concurrent or repeated creates exactly one wins, atomically, as a Firestore `create`
 *     would. The object carries its digest and its sender's session in its metadata.
 *  2. If it existed: read its metadata. The same digest is this chunk (a redelivery, a
 *     re-send, an attempt whose answer was lost); another digest is a conflict, which
 *     writes nothing.
 *  3. Create the ChunkDoc, which is what readers trust, naming the winning session.
 *
 * The object itself is the claim: no claim document, and no read on a first delivery.
 * The storage emulator ignores preconditions, so local/storage-emulator.ts enforces this one.
 */
import { FieldValue, type Firestore } from "@google-cloud/firestore";
import type { Bucket } from "@google-cloud/storage";
import { z } from "zod";
import { type ChunkDoc, CONVERTERS, chunkRef, readDocument } from "../../shared/firestore-schema";
import { GrpcStatus, hasGrpcStatus } from "../../shared/grpc-error";
import type { AudioChunk } from "./chunk-message";

export type StoreOutcome =
  | { readonly kind: "stored" }
  | { readonly kind: "already_stored" }
  | { readonly kind: "conflict"; readonly storedSha256: string };

/**
 * The object's metadata: its place in the conversation, its digest, and the session whose
 * create won the index (ChunkDoc's `session_id`, whichever attempt writes the ChunkDoc).
 */
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
    session_id: a.session_id,
  };
}

/**
 * What a stored object's metadata says of the create that won its index. Objects stored
 * before the session was in their metadata name none; their ChunkDoc exists already.
 */
const winnerSchema = z.object({ sha256: z.string().min(1), session_id: z.string().min(1).optional() });
type Winner = { readonly sha256: string; readonly session_id: string };

/** The ChunkDoc readers trust, for a chunk whose digest won the index, naming the winning session. */
export function chunkDoc(chunk: AudioChunk, winner: Pick<Winner, "session_id">): Omit<ChunkDoc, "persisted_at"> {
  const a = chunk.attributes;
  return {
    index: a.chunk_index,
    start: a.start,
    end: a.end,
    final: a.final,
    object: chunk.objectName,
    bytes: chunk.body.length,
    sha256: chunk.sha256,
    session_id: winner.session_id,
    samples: chunk.samples,
  };
}

/** Storage's answer to a write whose precondition did not hold. */
function isPreconditionFailed(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === 412;
}

export async function storeChunk(db: Firestore, bucket: Bucket, chunk: AudioChunk): Promise<StoreOutcome> {
  const { conversation_id: conversationId, chunk_index: index } = chunk.attributes;
  const winner = await createObject(bucket, chunk);
  if (winner.sha256 !== chunk.sha256) return { kind: "conflict", storedSha256: winner.sha256 };
  try {
    await chunkRef(db, conversationId, index).create({
      ...chunkDoc(chunk, winner),
      persisted_at: FieldValue.serverTimestamp(),
    });
  } catch (error) {
    // The Firestore client reports a `create` of an existing document as ALREADY_EXISTS.
    if (hasGrpcStatus(error, GrpcStatus.ALREADY_EXISTS)) return { kind: "already_stored" };
    throw error;
  }
  return { kind: "stored" };
}

/**
 * Creates the chunk's object unless one exists; the winner of the index either way: this
 * chunk, or the object that was there (possibly this chunk's own, from an earlier attempt).
 */
async function createObject(bucket: Bucket, chunk: AudioChunk): Promise<Winner> {
  const file = bucket.file(chunk.objectName);
  try {
    await file.save(chunk.body, {
      resumable: false,
      // The upload is checked against the digest Storage reports, as with the client's default
      // (CRC32C), but hashed natively: the client's CRC32C runs in JavaScript, and was this
      // worker's largest CPU cost per chunk.
      validation: "md5",
      contentType: "application/octet-stream",
      metadata: { metadata: objectMetadata(chunk) },
      preconditionOpts: { ifGenerationMatch: 0 },
    });
    return { sha256: chunk.sha256, session_id: chunk.attributes.session_id };
  } catch (error) {
    if (!isPreconditionFailed(error)) throw error;
  }
  const [metadata] = await file.getMetadata();
  const stored = winnerSchema.safeParse(metadata.metadata);
  // Only this worker writes chunk objects, always with this metadata: anything else is a fault.
  if (!stored.success) throw new Error(`object ${chunk.objectName} exists without its digest in its metadata`);
  return { sha256: stored.data.sha256, session_id: stored.data.session_id ?? chunk.attributes.session_id };
}

/**
 * Undoes a stored chunk that must not stay (persist-audio/handler.ts): its ChunkDoc, then its
 * object, each only while it still holds `chunk`'s bytes (its digest), so a chunk another
 * delivery stored at the same index after this one was removed is never touched. The
 * ChunkDoc goes first: from then on no reader trusts the object, and while the object
 * exists no other digest can create a ChunkDoc at this index. Idempotent.
 */
export async function removeChunk(db: Firestore, bucket: Bucket, chunk: AudioChunk): Promise<void> {
  const { conversation_id: conversationId, chunk_index: index } = chunk.attributes;
  const ref = chunkRef(db, conversationId, index);
  const record = await readDocument(ref, CONVERTERS.chunk);
  if (record?.data.sha256 === chunk.sha256) {
    // Only `samples` is ever written onto a ChunkDoc later (old records); if it was meanwhile,
    // the precondition fails and the delivery is retried.
    await ref.delete({ lastUpdateTime: record.updateTime });
  }
  const file = bucket.file(chunk.objectName);
  const [metadata] = await file.getMetadata().catch((error: { code?: unknown }) => {
    if (error.code === 404) return [undefined];
    throw error;
  });
  const stored = winnerSchema.safeParse(metadata?.metadata);
  if (metadata === undefined || !stored.success || stored.data.sha256 !== chunk.sha256) return;
  await file.delete({ ignoreNotFound: true, ifGenerationMatch: metadata.generation });
}
