/**
 * The Firestore layout of one environment's database: collection paths and document
 * shapes, in one place for the ingress, the workers and the API.
 *
 *   conversations/{conversation_id}                        ConversationDoc (ingress creates)
 *   conversations/{conversation_id}/sessions/{session_id}  SessionDoc (ingress)
 *   conversations/{conversation_id}/chunks/{00000042}      ChunkDoc (persist-audio worker)
 *   conversations/{conversation_id}/chunk_claims/{00000042}  ChunkClaimDoc (persist-audio worker)
 *   conversations/{conversation_id}/segments/{segment_id}  SegmentDoc (events worker)
 *   conversations/{conversation_id}/speaker_assignments/{segment_id}  AssignmentDoc (events worker)
 *   conversations/{conversation_id}/applied_events/{session_id}:{seq}  AppliedEventDoc (events worker)
 *   people/{person_id}                                     (speaker extraction)
 *
 * Per-chunk and per-segment facts live in their own documents: nothing increments a
 * counter on the conversation document for every chunk (hot documents serialise writes).
 */
import type { Firestore, Timestamp } from "@google-cloud/firestore";
import type { Codec, SampleRate } from "./audio-format";
import type { EnvironmentName } from "./environment";
import { appliedEventId, type EventKey, type LifecycleFields } from "./lifecycle";
import type { Segment } from "./messages";
import { paddedChunkIndex } from "./storage-paths";

export const COLLECTIONS = {
  conversations: "conversations",
  sessions: "sessions",
  chunks: "chunks",
  chunkClaims: "chunk_claims",
  segments: "segments",
  speakerAssignments: "speaker_assignments",
  appliedEvents: "applied_events",
  people: "people",
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

/** `people/{person_id}`: a speaker profile built from samples across conversations. */
export interface PersonDoc {
  id: string;
  user_id: string;
  samples: PersonSample[];
  embedding: { model: string; dim: number; vector: number[] } | null;
  updated_at: Timestamp;
}

export interface PersonSample {
  /** `gs://{bucket}/people/{person_id}/samples/{sample_id}.wav` */
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
 * The first bytes offered for a chunk index, claimed before the object is written: a
 * re-sent chunk with the same digest proceeds (and rewrites identical bytes); one with
 * another digest is a conflict and is never written. The storage emulator ignores
 * generation preconditions, so this claim, not the object write, decides.
 */
export interface ChunkClaimDoc {
  index: number;
  sha256: string;
  bytes: number;
  object: string;
  session_id: string;
  claimed_at: Timestamp;
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

export function conversationRef(db: Firestore, conversationId: string) {
  return db.collection(COLLECTIONS.conversations).doc(conversationId);
}

export function sessionRef(db: Firestore, conversationId: string, sessionId: string) {
  return conversationRef(db, conversationId).collection(COLLECTIONS.sessions).doc(sessionId);
}

export function chunkRef(db: Firestore, conversationId: string, index: number) {
  return conversationRef(db, conversationId).collection(COLLECTIONS.chunks).doc(paddedChunkIndex(index));
}

export function chunkClaimRef(db: Firestore, conversationId: string, index: number) {
  return conversationRef(db, conversationId).collection(COLLECTIONS.chunkClaims).doc(paddedChunkIndex(index));
}

export function personRef(db: Firestore, personId: string) {
  return db.collection(COLLECTIONS.people).doc(personId);
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
