/**
 * The conversation record as the ingress reads it back, and what it answers from it: the
 * 4410 details of a conversation that is over (finalized, or deleted with only its
 * tombstone left), and the refusals of a record it may not use.
 */
import type { Firestore, Timestamp } from "@google-cloud/firestore";
import { z } from "zod";
import { converter } from "../../shared/document-schema";
import {
  CONVERTERS,
  conversationDocSchema,
  conversationRef,
  type DocumentRead,
  readDocument,
  tombstoneRef,
} from "../../shared/firestore-schema";
import type * as lifecycle from "../../shared/lifecycle";
import { describeIssue } from "../../shared/schema-issues";
import { ProtocolError } from "./protocol-error";

/**
 * The fields the ingress reads back, validated: the record is shared with other writers.
 * Tolerant where the ingress can answer anyway: any environment string (named in the 4409),
 * and a record without its final position, finalize reason or update time.
 */
const storedConversationSchema = conversationDocSchema
  .pick({
    user_id: true,
    codec: true,
    sample_rate: true,
    chunk_size: true,
    durable_position: true,
    status: true,
    final_position: true,
    finalize_reason: true,
    final_intent: true,
    sessions_opened: true,
    events_recorded: true,
    events_recorded_order: true,
    updated_at: true,
    active_session: true,
  })
  .partial({ final_position: true, finalize_reason: true, updated_at: true })
  .extend({ environment: z.string() });
export type StoredConversation = z.infer<typeof storedConversationSchema>;

const storedConverter = converter(storedConversationSchema);

/** Reads the record through the ingress's view of it (InvalidDocumentError if malformed); undefined if absent. */
export async function readStored(
  db: Firestore,
  conversationId: string,
): Promise<DocumentRead<StoredConversation> | undefined> {
  return await readDocument(conversationRef(db, conversationId), storedConverter);
}

/** A record as a listing found it: parsed, or why it could not be (listed rather than failing the page). */
export function tryParseStored(
  data: unknown,
): { ok: true; value: StoredConversation } | { ok: false; problem: string } {
  const parsed = storedConversationSchema.safeParse(data);
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, problem: describeIssue(parsed.error) };
}

/** A conversation record as a sweep listed it. */
export interface ListedConversation {
  readonly conversationId: string;
  /** The document's update time when listed: the precondition of adopting it. */
  readonly updateTime: Timestamp;
  /** The record, or why it could not be read. */
  readonly record: ReturnType<typeof tryParseStored>;
}

/** The `conversation_finalized` error's details (PROTOCOL section 2). */
export type FinalizedDetails = {
  final_position?: number;
  durable_position?: number;
  finalize_reason?: lifecycle.FinalizeReason;
  /** Per socket (session id), how many of its text messages the record counts as published. */
  events_recorded: Readonly<Record<string, number>>;
};

export function finalizedDetails(stored: StoredConversation): FinalizedDetails {
  return {
    ...(stored.final_position !== null && stored.final_position !== undefined
      ? { final_position: stored.final_position }
      : {}),
    durable_position: stored.durable_position,
    ...(stored.finalize_reason ? { finalize_reason: stored.finalize_reason } : {}),
    events_recorded: stored.events_recorded ?? {},
  };
}

/** The 4410 details of a deleted (purged) conversation, from its tombstone; undefined if it was never deleted. */
export async function deletedDetails(db: Firestore, conversationId: string): Promise<FinalizedDetails | undefined> {
  const tombstone = (await tombstoneRef(db, conversationId).withConverter(CONVERTERS.tombstone).get()).data();
  if (tombstone === undefined) return undefined;
  return {
    ...(tombstone.final_position !== null ? { final_position: tombstone.final_position } : {}),
    durable_position: tombstone.durable_position,
    finalize_reason: "deleted",
    events_recorded: {},
  };
}

/** Throws the 4410 of a deleted conversation; returns if it was never deleted. */
export async function refuseIfDeleted(db: Firestore, conversationId: string): Promise<void> {
  const details = await deletedDetails(db, conversationId);
  if (details === undefined) return;
  throw new ProtocolError(
    "conversation_finalized",
    `conversation ${conversationId} was deleted: start a new conversation`,
    details,
  );
}

export function unknownConversation(conversationId: string): ProtocolError {
  return new ProtocolError(
    "bad_request",
    `the resume token names conversation ${conversationId}, which this environment has no record of; start a new conversation`,
  );
}
