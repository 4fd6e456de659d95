/**
 * What extraction reads from Firestore about one conversation: its format and state, every
 * segment (from every session), every speaker assignment, and the ChunkDocs of the chunks
 * it needs. Documents are validated here, at the edge, so a malformed document is an
 * error that names it rather than a wrong sample.
 */
import type { Firestore } from "@google-cloud/firestore";
import { z } from "zod";
import { type Codec, codecSchema, type SampleRate, sampleRateSchema } from "../../shared/audio-format";
import { COLLECTIONS, chunkRef, conversationRef } from "../../shared/firestore-schema";
import { segmentSchema } from "../../shared/messages";
import { describeIssue } from "../../shared/schema-issues";
import type { AssignmentInput, SegmentInput } from "./speaker-timeline";

const conversationSchema = z.object({
  user_id: z.string().min(1),
  environment: z.string().min(1),
  codec: codecSchema,
  sample_rate: sampleRateSchema,
  chunk_size: z.number().int().positive(),
  status: z.enum(["in_progress", "finalizing", "finalized"]),
  final_position: z.number().int().nonnegative().nullable(),
  extraction_generation: z.number().int().nonnegative().optional(),
  extraction: z
    .object({
      people: z.array(z.object({ person_id: z.string() }).loose()),
      missing_audio_waits: z.number().int().nonnegative().optional(),
    })
    .loose()
    .optional(),
});

export interface ConversationState {
  readonly id: string;
  readonly userId: string;
  readonly environment: string;
  readonly codec: Codec;
  readonly sampleRate: SampleRate;
  readonly chunkSize: number;
  readonly status: "in_progress" | "finalizing" | "finalized";
  readonly finalPosition: number | null;
  /** People listed by the previous extraction run, if any (their samples may need retiring). */
  readonly previouslyExtracted: string[];
  /** Deliveries that already waited for missing audio (see ExtractionSummary). */
  readonly missingAudioWaits: number;
  /** The extraction generation this run works for (shared/lifecycle.ts). */
  readonly generation: number;
}

export class InvalidDocumentError extends Error {
  override name = "InvalidDocumentError";
}

function invalid(path: string, error: z.ZodError): InvalidDocumentError {
  return new InvalidDocumentError(`${path} is malformed: ${describeIssue(error, "(document)")}`);
}

export async function loadConversation(db: Firestore, conversationId: string): Promise<ConversationState | undefined> {
  const snapshot = await conversationRef(db, conversationId).get();
  if (!snapshot.exists) return undefined;
  const parsed = conversationSchema.safeParse(snapshot.data());
  if (!parsed.success) throw invalid(snapshot.ref.path, parsed.error);
  const c = parsed.data;
  return {
    id: conversationId,
    userId: c.user_id,
    environment: c.environment,
    codec: c.codec,
    sampleRate: c.sample_rate as SampleRate,
    chunkSize: c.chunk_size,
    status: c.status,
    finalPosition: c.final_position,
    previouslyExtracted: (c.extraction?.people ?? []).map((p) => p.person_id),
    missingAudioWaits: c.extraction?.missing_audio_waits ?? 0,
    generation: c.extraction_generation ?? 0,
  };
}

const segmentDocSchema = segmentSchema.and(z.object({ session_id: z.string().min(1) }));
const assignmentDocSchema = z.object({ segment_id: z.string().min(1), person_id: z.string().min(1) });

/** Every segment of the conversation, whichever session sent it. */
export async function loadSegments(db: Firestore, conversationId: string): Promise<SegmentInput[]> {
  const snapshot = await conversationRef(db, conversationId).collection(COLLECTIONS.segments).get();
  return snapshot.docs.map((doc) => {
    const parsed = segmentDocSchema.safeParse(doc.data());
    if (!parsed.success) throw invalid(doc.ref.path, parsed.error);
    return parsed.data;
  });
}

/** Every speaker assignment of the conversation, whichever session sent it. */
export async function loadAssignments(db: Firestore, conversationId: string): Promise<AssignmentInput[]> {
  const snapshot = await conversationRef(db, conversationId).collection(COLLECTIONS.speakerAssignments).get();
  return snapshot.docs.map((doc) => {
    const parsed = assignmentDocSchema.safeParse(doc.data());
    if (!parsed.success) throw invalid(doc.ref.path, parsed.error);
    return parsed.data;
  });
}

const chunkDocSchema = z.object({
  index: z.number().int().nonnegative(),
  start: z.number().int().nonnegative(),
  end: z.number().int().positive(),
  object: z.string().min(1),
  bytes: z.number().int().nonnegative(),
  samples: z.number().int().nonnegative().optional(),
});

export type StoredChunk = z.infer<typeof chunkDocSchema>;

/** The ChunkDocs of `indexes` that exist (a missing index is simply absent from the map). */
export async function loadChunks(
  db: Firestore,
  conversationId: string,
  indexes: readonly number[],
): Promise<Map<number, StoredChunk>> {
  const unique = [...new Set(indexes)].sort((a, b) => a - b);
  if (unique.length === 0) return new Map();
  const snapshots = await db.getAll(...unique.map((index) => chunkRef(db, conversationId, index)));
  const chunks = new Map<number, StoredChunk>();
  for (const snapshot of snapshots) {
    if (!snapshot.exists) continue;
    const parsed = chunkDocSchema.safeParse(snapshot.data());
    if (!parsed.success) throw invalid(snapshot.ref.path, parsed.error);
    chunks.set(parsed.data.index, parsed.data);
  }
  return chunks;
}

/** Every ChunkDoc of the conversation, by index (Opus needs them all to place samples in time). */
export async function loadAllChunks(db: Firestore, conversationId: string): Promise<Map<number, StoredChunk>> {
  const snapshot = await conversationRef(db, conversationId)
    .collection(COLLECTIONS.chunks)
    .select("index", "start", "end", "object", "bytes", "samples")
    .get();
  const chunks = new Map<number, StoredChunk>();
  for (const doc of snapshot.docs) {
    const parsed = chunkDocSchema.safeParse(doc.data());
    if (!parsed.success) throw invalid(doc.ref.path, parsed.error);
    chunks.set(parsed.data.index, parsed.data);
  }
  return chunks;
}
