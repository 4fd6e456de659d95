/**
 * What the workers record of a conversation's stream, one document per item (nothing
 * increments a counter on the conversation document per chunk: hot documents serialise
 * writes): persisted chunks, segments and their speaker assignments, the events the
 * events worker is done with, and deliveries that did not go the common way. Each schema
 * is the one home of its document's shape; the types derive from it.
 */
import { z } from "zod";
import { count, type DocumentOf, documentSchema, timestamp } from "./document-schema";
import { segmentSchema } from "./messages";

/**
 * `chunks/{00000042}`: a persisted chunk: the object exists in the bucket with exactly these
 * bytes. Written only after the object, so readers may trust every ChunkDoc they see.
 */
export const chunkDocSchema = documentSchema({
  index: count,
  start: count,
  end: z.number().int().positive(),
  final: z.boolean(),
  /** Object name in the environment's bucket. */
  object: z.string().min(1),
  bytes: count,
  /** Hex SHA-256 of the object's bytes; a re-sent chunk must match it. */
  sha256: z.string(),
  session_id: z.string(),
  persisted_at: timestamp,
  /**
   * PCM samples the chunk decodes to (pcm16: bytes / 2; opus: from the packets' TOC
   * bytes), so a WAV header is exact before anything is decoded. Absent on chunk docs
   * written before this field existed.
   */
  samples: count.optional(),
});
export type ChunkDoc = DocumentOf<typeof chunkDocSchema>;

/**
 * The fields of a ChunkDoc that place and read its audio; readers select only these
 * (functions/chunk-records.ts, functions/audio-stream.ts).
 */
export const chunkAudioFieldsSchema = chunkDocSchema.pick({
  index: true,
  start: true,
  end: true,
  final: true,
  object: true,
  bytes: true,
  samples: true,
});
export type ChunkAudioFields = DocumentOf<typeof chunkAudioFieldsSchema>;

/**
 * `segments/{segment_id}`. `revision` is the revision of the event that wrote the document
 * (shared/lifecycle.ts `eventRevision`: the socket's ordinal, then the event's number in
 * it): a redelivered or late older event never replaces what a newer one wrote.
 */
export const segmentDocSchema = z.intersection(
  segmentSchema,
  documentSchema({ session_id: z.string().min(1), updated_at: timestamp, revision: count.optional() }),
);
export type SegmentDoc = DocumentOf<typeof segmentDocSchema>;

/** `speaker_assignments/{segment_id}`: the person a segment was assigned to, by the newest event. */
export const assignmentDocSchema = documentSchema({
  segment_id: z.string().min(1),
  person_id: z.string().min(1),
  session_id: z.string(),
  assigned_at: timestamp,
  revision: count.optional(),
});
export type AssignmentDoc = DocumentOf<typeof assignmentDocSchema>;

/** `applied_events/{session_id}:{seq}`: an event of the barrier the events worker is done with. */
export const appliedEventDocSchema = documentSchema({
  session_id: z.string(),
  seq: count,
  outcome: z.enum(["applied", "rejected"]),
  /** With `rejected`: why, and which segments the event carried. */
  reason: z.string().optional(),
  segment_ids: z.array(z.string()).optional(),
  applied_at: timestamp,
});
export type AppliedEventDoc = DocumentOf<typeof appliedEventDocSchema>;

/**
 * `deliveries/{key}`: a delivery that did not go the common way, kept for the conversation's
 * history: a message delivered again after it was stored (`redelivered`), or one
 * dead-lettered. Written only on those rare paths (functions/delivery-record.ts).
 */
export const deliveryDocSchema = documentSchema({
  kind: z.enum(["redelivered", "dead_lettered"]),
  /** The worker that saw it. */
  worker: z.string(),
  /** Audio: the chunk's index and its range in position units. */
  chunk_index: count.optional(),
  start: count.optional(),
  end: count.optional(),
  session_id: z.string().optional(),
  /** Dead letters: the rejection reason and its sentence. */
  reason: z.string().optional(),
  detail: z.string().optional(),
  /** How often this happened to the same message (redeliveries count up). */
  count: count,
  first_at: timestamp,
  last_at: timestamp,
});
export type DeliveryDoc = DocumentOf<typeof deliveryDocSchema>;
