/**
 * The conversation record: `conversations/{id}` (ConversationDoc), its sockets
 * (`sessions/{session_id}`, SessionDoc), and what outlives it (`tombstones/{id}`,
 * TombstoneDoc). Each schema is the one home of its document's shape; the types derive
 * from it. What each lifecycle field means is shared/lifecycle.ts's.
 */
import { z } from "zod";
import { codecSchema, sampleRateSchema } from "./audio-format";
import { CONVERSATION_STATUSES, FINALIZE_REASONS } from "./conversation-values";
import { count, type DocumentOf, documentSchema, timestamp } from "./document-schema";
import { environmentNameSchema } from "./environment";

const finalizeReasonSchema = z.enum(FINALIZE_REASONS);

/** Where a server-started finalize cuts the stream (lifecycle.ts `intendFinalize`): only the server's reasons. */
export const finalIntentSchema = z.object({
  final_position: count,
  reason: finalizeReasonSchema.exclude(["client", "deleted"]),
});
export type FinalIntent = z.output<typeof finalIntentSchema>;

/** An event that could never be applied, with why (recorded at the flip to `finalized`). */
export const rejectedEventSchema = z.object({
  session_id: z.string(),
  seq: count,
  reason: z.string(),
  /** The segments (or assigned segments) the event carried. */
  segment_ids: z.array(z.string()),
});
export type RejectedEvent = z.output<typeof rejectedEventSchema>;

/** Per-person outcome of speaker extraction on one conversation. */
export const personExtractionSchema = documentSchema({
  person_id: z.string(),
  /** `extracted`, or why not: `skipped` / `failed` with an actionable reason. */
  status: z.enum(["extracted", "skipped", "failed", "pending"]),
  /** e.g. `too_short`, `audio_missing`, `overlapping_speech`, `sample_limit_reached`. */
  reason: z.string().optional(),
  /** Details for the reason (for `audio_missing`: the missing ranges). */
  detail: z.record(z.string(), z.unknown()).optional(),
  /** Samples taken from this conversation for this person. */
  samples: z.number(),
});
export type PersonExtraction = DocumentOf<typeof personExtractionSchema>;

export const EXTRACTION_STATUSES = ["pending", "done", "failed"] as const;
export type ExtractionStatus = (typeof EXTRACTION_STATUSES)[number];

export const extractionSummarySchema = documentSchema({
  status: z.enum(EXTRACTION_STATUSES),
  /** The extraction generation this result belongs to (shared/lifecycle.ts). */
  generation: count.optional(),
  people: z.array(personExtractionSchema),
  updated_at: timestamp,
  /**
   * While `pending`: how many deliveries already waited for missing audio. Push deliveries
   * carry no delivery count, so extraction counts them here to report `audio_missing`
   * before the subscription dead-letters the request.
   */
  missing_audio_waits: count.optional(),
});
export type ExtractionSummary = DocumentOf<typeof extractionSummarySchema>;

/** `conversations/{conversation_id}`: created by the ingress; its lifecycle fields are shared/lifecycle.ts's. */
export const conversationDocSchema = documentSchema({
  id: z.string(),
  /** The environment the conversation is pinned to, for its whole life. */
  environment: environmentNameSchema,
  /** The JWT `sub` of the user who started it; nobody else may resume or read it. */
  user_id: z.string().min(1),
  codec: codecSchema,
  sample_rate: sampleRateSchema,
  channels: z.literal(1),
  /** Units (bytes for pcm16, packets for opus) per durable chunk, fixed at creation. */
  chunk_size: z.number().int().positive(),
  created_at: timestamp,
  updated_at: timestamp,
  finalized_at: timestamp.nullable(),
  status: z.enum(CONVERSATION_STATUSES),
  durable_position: count,
  final_position: count.nullable(),
  finalize_reason: finalizeReasonSchema.nullable(),
  /** Where a server-started finalize cuts the stream, recorded before its partial final chunk is published. */
  final_intent: finalIntentSchema.nullable().optional(),
  /** Per socket session: how many of its events (seq 1..n) Pub/Sub confirmed. */
  events_recorded: z.record(z.string(), count).optional(),
  /**
   * The last `EVENTS_RECORDED_SOCKETS` sockets that opened the conversation, oldest first:
   * `events_recorded` keeps entries for these only; an older socket's count moves to its
   * session document (`sessions/{id}.events_recorded`) when it drops out.
   */
  events_recorded_order: z.array(z.string()).optional(),
  /** Sockets that opened the conversation so far; the newest is its ordinal. */
  sessions_opened: count.optional(),
  extraction_generation: count.optional(),
  /** When the newest generation started (a commit time): it covers every write before it. */
  extraction_generation_at: timestamp.nullable().optional(),
  extraction_requested_generation: count.optional(),
  /** Events that could never be applied, with why (recorded at the flip). */
  rejected_events: z.array(rejectedEventSchema).optional(),
  /** Written by the speaker-extraction worker; absent until it first runs. */
  extraction: extractionSummarySchema.optional(),
  /** Set with the tombstone: the conversation is being deleted (readers answer 404). */
  deleted_at: timestamp.optional(),
  /**
   * The ingress's: the session id of the socket that owns the conversation now (or of the
   * orphan sweeper that adopted it); another socket's writes to the record stop on seeing it change.
   */
  active_session: z.string().nullable().optional(),
});
export type ConversationDoc = DocumentOf<typeof conversationDocSchema>;

/**
 * `tombstones/{conversation_id}`: what is left of a deleted conversation, forever: who owned
 * it and where it ended, so a resume still hears 4410 (`deleted`), and every worker can tell
 * that a late or redelivered message must store nothing. No audio, text or speaker data.
 */
export const tombstoneDocSchema = documentSchema({
  conversation_id: z.string(),
  environment: environmentNameSchema,
  user_id: z.string().min(1),
  /** `request`: a DELETE; `retention`: the stack's retention period ran out. */
  reason: z.enum(["request", "retention"]),
  durable_position: count,
  final_position: count.nullable(),
  requested_at: timestamp,
  /** When a purge last found and removed everything (null until the first one did). */
  purged_at: timestamp.nullable(),
});
export type TombstoneDoc = DocumentOf<typeof tombstoneDocSchema>;

/** `conversations/{id}/sessions/{session_id}`: one socket of the conversation (ingress). */
export const sessionDocSchema = documentSchema({
  session_id: z.string(),
  /** Durable position when the socket opened. */
  start_position: count,
  started_at: timestamp,
  ended_at: timestamp.nullable(),
  /** WebSocket close code, when it ended. */
  close_code: z.number().int().nullable(),
  /** The `goaway` the socket was sent before it ended (a handover), if any. */
  goaway: z.string().optional(),
  /** The socket's event count, once it left the conversation record's `events_recorded` (shared/lifecycle.ts). */
  events_recorded: count.optional(),
});
export type SessionDoc = DocumentOf<typeof sessionDocSchema>;
