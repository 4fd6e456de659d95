/**
 * The Firestore layout of one environment's database: collection paths and document
 * shapes, in one place for the ingress, the workers and the API.
 *
 *   conversations/{conversation_id}                        ConversationDoc (ingress creates)
 *   conversations/{conversation_id}/sessions/{session_id}  SessionDoc (ingress)
 *   conversations/{conversation_id}/chunks/{00000042}      ChunkDoc (persist-audio worker)
 *   conversations/{conversation_id}/segments/{segment_id}  SegmentDoc (events worker)
 *   conversations/{conversation_id}/speaker_assignments/{segment_id}  AssignmentDoc (events worker)
 *   conversations/{conversation_id}/applied_events/{session_id}:{seq}  AppliedEventDoc (events worker)
 *   conversations/{conversation_id}/deliveries/{key}      DeliveryDoc (workers, on rare paths only)
 *   users/{user_key}/people/{person_id}                    PersonDoc (speaker extraction: each user's own)
 *   tombstones/{conversation_id}                           TombstoneDoc (API, retention: a deleted conversation)
 *
 * Per-chunk and per-segment facts live in their own documents: nothing increments a
 * counter on the conversation document for every chunk (hot documents serialise writes).
 *
 * Each document has one zod schema below, checked against its interface, and a converter
 * (`withConverter`) that validates on read: a reader that goes through it gets a typed
 * document or an `InvalidDocumentError` naming the document's path and what is wrong.
 * Unknown fields are kept (a document may carry fields one writer adds, e.g. the ingress's
 * `active_session`).
 */
import crypto from "node:crypto";
import {
  type DocumentData,
  type Firestore,
  type FirestoreDataConverter,
  type QueryDocumentSnapshot,
  Timestamp,
} from "@google-cloud/firestore";
import { z } from "zod";
import { type Codec, codecSchema, type SampleRate, sampleRateSchema } from "./audio-format";
import { CONVERSATION_STATUSES, FINALIZE_REASONS } from "./conversation-values";
import { type EnvironmentName, environmentNameSchema } from "./environment";
import { appliedEventId, type EventKey, type LifecycleFields } from "./lifecycle";
import { type Segment, segmentSchema } from "./messages";
import { describeIssue } from "./schema-issues";
import { paddedChunkIndex, USER_KEY_LENGTH, type UserKey } from "./storage-paths";

export const COLLECTIONS = {
  conversations: "conversations",
  sessions: "sessions",
  chunks: "chunks",
  segments: "segments",
  speakerAssignments: "speaker_assignments",
  appliedEvents: "applied_events",
  deliveries: "deliveries",
  people: "people",
  /** Per-user bookkeeping of the 4429 limits (functions/ingress/user-limits.ts). */
  users: "users",
  liveSockets: "live_sockets",
  conversationStarts: "conversation_starts",
  tombstones: "tombstones",
} as const;

/** The lifecycle fields (status, positions, the event barrier, generations) are shared/lifecycle.ts's. */
export interface ConversationDoc extends LifecycleFields {
  id: string;
  /** The environment the conversation is pinned to, for its whole life. */
  environment: EnvironmentName;
  /** The JWT `sub` of the user who started it; nobody else may resume or read it. */
  user_id: string;
  codec: Codec;
  sample_rate: SampleRate;
  channels: 1;
  /** Units (bytes for pcm16, packets for opus) per durable chunk, fixed at creation. */
  chunk_size: number;
  created_at: Timestamp;
  updated_at: Timestamp;
  finalized_at: Timestamp | null;
  /** Written by the speaker-extraction worker; absent until it first runs. */
  extraction?: ExtractionSummary;
  /** Set with the tombstone: the conversation is being deleted (readers answer 404). */
  deleted_at?: Timestamp;
}

/**
 * What is left of a deleted conversation, forever: who owned it and where it ended, so a
 * resume still hears 4410 (`deleted`), and every worker can tell that a late or redelivered
 * message must store nothing. No audio, text or speaker data.
 */
export interface TombstoneDoc {
  conversation_id: string;
  environment: EnvironmentName;
  user_id: string;
  /** `request`: a DELETE; `retention`: the stack's retention period ran out. */
  reason: "request" | "retention";
  durable_position: number;
  final_position: number | null;
  requested_at: Timestamp;
  /** When a purge last found and removed everything (null until the first one did). */
  purged_at: Timestamp | null;
}

/** Per-person outcome of speaker extraction on one conversation. */
export interface PersonExtraction {
  person_id: string;
  /** `extracted`, or why not: `skipped` / `failed` with an actionable reason. */
  status: "extracted" | "skipped" | "failed" | "pending";
  /** e.g. `too_short`, `audio_missing`, `overlapping_speech`, `sample_limit_reached`. */
  reason?: string;
  /** Details for the reason (for `audio_missing`: the missing ranges). */
  detail?: Record<string, unknown>;
  /** Samples taken from this conversation for this person. */
  samples: number;
}

export interface ExtractionSummary {
  status: "pending" | "done" | "failed";
  /** The extraction generation this result belongs to (shared/lifecycle.ts). */
  generation?: number;
  people: PersonExtraction[];
  updated_at: Timestamp;
  /**
   * While `pending`: how many deliveries already waited for missing audio. Push deliveries
   * carry no delivery count, so extraction counts them here to report `audio_missing`
   * before the subscription dead-letters the request.
   */
  missing_audio_waits?: number;
}

/**
 * `users/{user_key}/people/{person_id}`: a speaker profile built from samples across one
 * user's conversations. Person ids are the client's: two users' `p1` are two profiles.
 */
export interface PersonDoc {
  id: string;
  user_id: string;
  samples: PersonSample[];
  embedding: { model: string; dim: number; vector: number[] } | null;
  updated_at: Timestamp;
}

export interface PersonSample {
  /** `gs://{bucket}/people/{person_id}/{user_key}/samples/{sample_id}.wav` (storage-paths.ts) */
  uri: string;
  sample_id: string;
  conversation_id: string;
  segment_ids: string[];
  duration_ms: number;
  // Written by speaker extraction (optional: older samples may lack them).
  /** The window in the conversation, milliseconds from its position 0. */
  start_ms?: number;
  end_ms?: number;
  sample_rate?: number;
  /** Ranks samples when a person has more than the cap (functions/extract-speakers/sample-quality.ts). */
  quality?: PersonSampleQuality;
  /** This sample's own embedding; the person's `embedding` is the mean of these. */
  embedding?: { model: string; dim: number; vector: number[] };
}

/** How good a speaker sample is; `score` in [0, 1], higher is better. */
export interface PersonSampleQuality {
  score: number;
  duration_ms: number;
  /** Share of the window covered by the person's segments. */
  speech_coverage: number;
  /** Share covered by segments explicitly named as the person. */
  assigned_coverage: number;
  /** Distance to the nearest other speaker's segment (capped at 2 s). */
  margin_ms: number;
  /** Share of 25 ms frames with active speech. */
  active_ratio?: number;
  clipped_ratio?: number;
  active_level_dbfs?: number;
}

export interface SessionDoc {
  session_id: string;
  /** Durable position when the socket opened. */
  start_position: number;
  started_at: Timestamp;
  ended_at: Timestamp | null;
  /** WebSocket close code, when it ended. */
  close_code: number | null;
  /** The `goaway` the socket was sent before it ended (a handover), if any. */
  goaway?: string;
}

/**
 * A persisted chunk: the object exists in the bucket with exactly these bytes. Written
 * only after the object, so readers may trust every ChunkDoc they see.
 */
export interface ChunkDoc {
  index: number;
  start: number;
  end: number;
  final: boolean;
  /** Object name in the environment's bucket. */
  object: string;
  bytes: number;
  /** Hex SHA-256 of the object's bytes; a re-sent chunk must match it. */
  sha256: string;
  session_id: string;
  persisted_at: Timestamp;
  /**
   * PCM samples the chunk decodes to (pcm16: bytes / 2; opus: from the packets' TOC
   * bytes), so a WAV header is exact before anything is decoded. Absent on chunk docs
   * written before this field existed.
   */
  samples?: number;
}

/**
 * `revision` is the revision of the event that wrote the document (shared/lifecycle.ts
 * `eventRevision`: the socket's ordinal, then the event's number in it): a redelivered or
 * late older event never replaces what a newer one wrote.
 */
export type SegmentDoc = Segment & { session_id: string; updated_at: Timestamp; revision?: number };

export interface AssignmentDoc {
  segment_id: string;
  person_id: string;
  session_id: string;
  assigned_at: Timestamp;
  revision?: number;
}

/** An event of the barrier that the events worker is done with: applied, or rejected for good. */
export interface AppliedEventDoc {
  session_id: string;
  seq: number;
  outcome: "applied" | "rejected";
  /** With `rejected`: why, and which segments the event carried. */
  reason?: string;
  segment_ids?: string[];
  applied_at: Timestamp;
}

/**
 * A delivery that did not go the common way, kept for the conversation's history: a message
 * delivered again after it was stored (`redelivered`), or one dead-lettered. Written only on
 * those rare paths (functions/delivery-record.ts), never once per chunk.
 */
export interface DeliveryDoc {
  kind: "redelivered" | "dead_lettered";
  /** The worker that saw it. */
  worker: string;
  /** Audio: the chunk's index and its range in position units. */
  chunk_index?: number;
  start?: number;
  end?: number;
  session_id?: string;
  /** Dead letters: the rejection reason and its sentence. */
  reason?: string;
  detail?: string;
  /** How often this happened to the same message (redeliveries count up). */
  count: number;
  first_at: Timestamp;
  last_at: Timestamp;
}

// ---------------------------------------------------------------- schemas, one per document

const timestamp = z.instanceof(Timestamp);
const count = z.number().int().min(0);
const finalizeReasonSchema = z.enum(FINALIZE_REASONS);
const embeddingSchema = z.object({ model: z.string(), dim: z.number().int(), vector: z.array(z.number()) });

export const personExtractionSchema = z
  .object({
    person_id: z.string(),
    status: z.enum(["extracted", "skipped", "failed", "pending"]),
    reason: z.string().optional(),
    detail: z.record(z.string(), z.unknown()).optional(),
    samples: z.number(),
  })
  .loose();

export const extractionSummarySchema = z
  .object({
    status: z.enum(["pending", "done", "failed"]),
    generation: count.optional(),
    people: z.array(personExtractionSchema),
    updated_at: timestamp,
    missing_audio_waits: count.optional(),
  })
  .loose();

export const rejectedEventSchema = z.object({
  session_id: z.string(),
  seq: count,
  reason: z.string(),
  segment_ids: z.array(z.string()),
});

export const conversationDocSchema = z
  .object({
    id: z.string(),
    environment: environmentNameSchema,
    user_id: z.string().min(1),
    codec: codecSchema,
    sample_rate: sampleRateSchema,
    channels: z.literal(1),
    chunk_size: z.number().int().positive(),
    created_at: timestamp,
    updated_at: timestamp,
    finalized_at: timestamp.nullable(),
    status: z.enum(CONVERSATION_STATUSES),
    durable_position: count,
    final_position: count.nullable(),
    finalize_reason: finalizeReasonSchema.nullable(),
    final_intent: z
      .object({ final_position: count, reason: z.enum(["idle_timeout"]) })
      .nullable()
      .optional(),
    events_recorded: z.record(z.string(), count).optional(),
    events_recorded_order: z.array(z.string()).optional(),
    sessions_opened: count.optional(),
    extraction_generation: count.optional(),
    extraction_generation_at: timestamp.nullable().optional(),
    extraction_requested_generation: count.optional(),
    rejected_events: z.array(rejectedEventSchema).optional(),
    extraction: extractionSummarySchema.optional(),
    deleted_at: timestamp.optional(),
  })
  .loose();

export const tombstoneDocSchema = z
  .object({
    conversation_id: z.string(),
    environment: environmentNameSchema,
    user_id: z.string().min(1),
    reason: z.enum(["request", "retention"]),
    durable_position: count,
    final_position: count.nullable(),
    requested_at: timestamp,
    purged_at: timestamp.nullable(),
  })
  .loose();

export const sessionDocSchema = z
  .object({
    session_id: z.string(),
    start_position: count,
    started_at: timestamp,
    ended_at: timestamp.nullable(),
    close_code: z.number().int().nullable(),
    goaway: z.string().optional(),
    /** The socket's event count, once it left the conversation record's `events_recorded` (shared/lifecycle.ts). */
    events_recorded: count.optional(),
  })
  .loose();

export const chunkDocSchema = z
  .object({
    index: count,
    start: count,
    end: z.number().int().positive(),
    final: z.boolean(),
    object: z.string().min(1),
    bytes: count,
    sha256: z.string(),
    session_id: z.string(),
    persisted_at: timestamp,
    samples: count.optional(),
  })
  .loose();

export const segmentDocSchema = z.intersection(
  segmentSchema,
  z.object({ session_id: z.string().min(1), updated_at: timestamp, revision: count.optional() }).loose(),
);

export const assignmentDocSchema = z
  .object({
    segment_id: z.string().min(1),
    person_id: z.string().min(1),
    session_id: z.string(),
    assigned_at: timestamp,
    revision: count.optional(),
  })
  .loose();

export const appliedEventDocSchema = z
  .object({
    session_id: z.string(),
    seq: count,
    outcome: z.enum(["applied", "rejected"]),
    reason: z.string().optional(),
    segment_ids: z.array(z.string()).optional(),
    applied_at: timestamp,
  })
  .loose();

export const deliveryDocSchema = z
  .object({
    kind: z.enum(["redelivered", "dead_lettered"]),
    worker: z.string(),
    chunk_index: count.optional(),
    start: count.optional(),
    end: count.optional(),
    session_id: z.string().optional(),
    reason: z.string().optional(),
    detail: z.string().optional(),
    count: count,
    first_at: timestamp,
    last_at: timestamp,
  })
  .loose();

export const personSampleSchema = z
  .object({
    uri: z.string(),
    sample_id: z.string().min(1),
    conversation_id: z.string(),
    segment_ids: z.array(z.string()),
    duration_ms: z.number(),
    start_ms: z.number().optional(),
    end_ms: z.number().optional(),
    sample_rate: z.number().optional(),
    quality: z
      .object({
        score: z.number(),
        duration_ms: z.number(),
        speech_coverage: z.number(),
        assigned_coverage: z.number(),
        margin_ms: z.number(),
        active_ratio: z.number().optional(),
        clipped_ratio: z.number().optional(),
        active_level_dbfs: z.number().optional(),
      })
      .optional(),
    embedding: embeddingSchema.optional(),
  })
  .transform((sample): PersonSample => sample);

export const personDocSchema = z
  .object({
    id: z.string(),
    user_id: z.string(),
    samples: z.array(personSampleSchema).default([]),
    embedding: embeddingSchema.nullable().default(null),
    updated_at: timestamp,
  })
  .loose();

// ---------------------------------------------------------------- converters

/** A document that does not match its schema; the message names its path and the issue. */
export class InvalidDocumentError extends Error {
  override name = "InvalidDocumentError";
}

/** Parses one document's data, throwing `InvalidDocumentError` naming `path`. */
export function parseDocument<T>(schema: z.ZodType<T>, path: string, data: unknown): T {
  const parsed = schema.safeParse(data);
  if (!parsed.success) {
    throw new InvalidDocumentError(`${path} is malformed: ${describeIssue(parsed.error, "(document)")}`);
  }
  return parsed.data;
}

/** Validates on read; writes pass through (writers build documents from these same types). */
function converter<T>(schema: z.ZodType<T>): FirestoreDataConverter<T, DocumentData> {
  return {
    toFirestore: (data) => data as DocumentData,
    fromFirestore: (snapshot: QueryDocumentSnapshot) => parseDocument(schema, snapshot.ref.path, snapshot.data()),
  };
}

/** The converter of each document: `ref.withConverter(CONVERTERS.conversation)` reads it typed and validated. */
export const CONVERTERS = {
  conversation: converter<ConversationDoc>(conversationDocSchema),
  session: converter<SessionDoc>(sessionDocSchema),
  chunk: converter<ChunkDoc>(chunkDocSchema),
  segment: converter<SegmentDoc>(segmentDocSchema),
  assignment: converter<AssignmentDoc>(assignmentDocSchema),
  appliedEvent: converter<AppliedEventDoc>(appliedEventDocSchema),
  delivery: converter<DeliveryDoc>(deliveryDocSchema),
  person: converter<PersonDoc>(personDocSchema),
  tombstone: converter<TombstoneDoc>(tombstoneDocSchema),
} as const;

// ---------------------------------------------------------------- references

export function conversationRef(db: Firestore, conversationId: string) {
  return db.collection(COLLECTIONS.conversations).doc(conversationId);
}

export function sessionRef(db: Firestore, conversationId: string, sessionId: string) {
  return conversationRef(db, conversationId).collection(COLLECTIONS.sessions).doc(sessionId);
}

export function chunkRef(db: Firestore, conversationId: string, index: number) {
  return conversationRef(db, conversationId).collection(COLLECTIONS.chunks).doc(paddedChunkIndex(index));
}

/**
 * A user's key: a `sub` may hold `/` or look like `__x__`, which no document id or object
 * path segment may, so its document (`users/{key}`) and its profiles' objects
 * (`people/{person_id}/{key}/`) are keyed by a digest of it.
 */
export function userKey(userId: string): UserKey {
  const key = crypto.createHash("sha256").update(userId).digest("base64url");
  if (key.length !== USER_KEY_LENGTH) throw new Error(`a user key is ${USER_KEY_LENGTH} characters, not ${key.length}`);
  return key as UserKey;
}

/** A user's bookkeeping document (`users/{key}`): the per-user limits and the user's people. */
export function userRef(db: Firestore, userId: string) {
  return db.collection(COLLECTIONS.users).doc(userKey(userId));
}

/** A live socket's lease (`users/{user}/live_sockets/{session}`): counted while `expires_at` is ahead. */
export function liveSocketRef(db: Firestore, userId: string, sessionId: string) {
  return userRef(db, userId).collection(COLLECTIONS.liveSockets).doc(sessionId);
}

/** A conversation start (`users/{user}/conversation_starts/{conversation}`), for the per-minute limit. */
export function conversationStartRef(db: Firestore, userId: string, conversationId: string) {
  return userRef(db, userId).collection(COLLECTIONS.conversationStarts).doc(conversationId);
}

/** The user's people (`users/{user}/people`): a user reaches only their own profiles. */
export function peopleOf(db: Firestore, userId: string) {
  return userRef(db, userId).collection(COLLECTIONS.people);
}

/** One user's profile of `personId`; another user's `personId` is another document. */
export function personRef(db: Firestore, userId: string, personId: string) {
  return peopleOf(db, userId).doc(personId);
}

export function tombstoneRef(db: Firestore, conversationId: string) {
  return db.collection(COLLECTIONS.tombstones).doc(conversationId);
}

export function segmentRef(db: Firestore, conversationId: string, segmentId: string) {
  return conversationRef(db, conversationId).collection(COLLECTIONS.segments).doc(segmentId);
}

export function assignmentRef(db: Firestore, conversationId: string, segmentId: string) {
  return conversationRef(db, conversationId).collection(COLLECTIONS.speakerAssignments).doc(segmentId);
}

export function appliedEventRef(db: Firestore, conversationId: string, key: EventKey) {
  return conversationRef(db, conversationId).collection(COLLECTIONS.appliedEvents).doc(appliedEventId(key));
}
