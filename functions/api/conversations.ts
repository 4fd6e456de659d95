/**
 * `GET /v1/conversations/{id}` and `GET /v1/conversations/{id}/segments`.
 *
 * Ownership rule (the same for people): a conversation this environment does not hold is
 * 404; one it holds that belongs to another user is 403, as the ingress refuses to resume
 * it with 4403. Conversations of other environments live in other databases, so they are
 * simply not found here.
 */
import type { Firestore, Timestamp } from "@google-cloud/firestore";
import type { Principal } from "../../shared/auth";
import type { EnvironmentName } from "../../shared/environment";
import { queryOf } from "../../shared/firestore-query";
import {
  type AssignmentDoc,
  COLLECTIONS,
  type ConversationDoc,
  conversationRef,
  parseDocument,
  readConversation,
  type SegmentDoc,
  type SessionDoc,
  sessionDocSchema,
} from "../../shared/firestore-schema";
import { type ConversationStatus, lifecycleView } from "../../shared/lifecycle";
import { ApiError } from "./errors";
import type { AudioExtent } from "./served-audio";

export async function loadOwnedConversation(
  db: Firestore,
  conversationId: string,
  principal: Principal,
  environment: EnvironmentName,
): Promise<ConversationDoc> {
  const conversation = (await readConversation(db, conversationId))?.data;
  if (!conversation || conversation.environment !== environment || conversation.deleted_at !== undefined) {
    throw new ApiError(404, `conversation ${conversationId} does not exist in environment ${environment}`);
  }
  if (conversation.user_id !== principal.userId) {
    throw new ApiError(403, `conversation ${conversationId} belongs to another user`);
  }
  return conversation;
}

/** Firestore timestamps as ISO 8601 strings (null stays null). */
export function isoTime(value: Timestamp | Date | string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") return value;
  if (value instanceof Date) return value.toISOString();
  return value.toDate().toISOString();
}

export interface SessionView {
  session_id: string;
  started_at: string | null;
  ended_at: string | null;
}

export interface ConversationView {
  id: string;
  environment: string;
  status: ConversationStatus;
  codec: ConversationDoc["codec"];
  sample_rate: number;
  position: number;
  duration_ms: number;
  /** Only while some Opus chunks' lengths are still being measured: how many `duration_ms` leaves out. */
  duration_unmeasured_chunks?: number;
  sessions: SessionView[];
  segments: number;
  extraction: {
    status: "pending" | "done" | "failed";
    people: Array<{ person_id: string; status: string; reason?: string; samples: number }>;
  };
  /** Segments (or assigned segments) the stores refused for good, with the reason. */
  rejected_segments?: Array<{ segment_id: string; reason: string }>;
}

/** PROTOCOL.md section 3's conversation object. Pure. */
export function conversationView(
  conversation: ConversationDoc,
  facts: {
    sessions: readonly SessionDoc[];
    segmentCount: number;
    audio: Pick<AudioExtent, "endPosition" | "durationMs"> & Partial<Pick<AudioExtent, "unmeasuredChunks">>;
  },
): ConversationView {
  const sessions = [...facts.sessions]
    .map((s) => ({ session_id: s.session_id, started_at: isoTime(s.started_at), ended_at: isoTime(s.ended_at) }))
    .sort((a, b) => (a.started_at ?? "").localeCompare(b.started_at ?? "") || a.session_id.localeCompare(b.session_id));
  const extraction = conversation.extraction;
  const lifecycle = lifecycleView(conversation);
  return {
    id: conversation.id,
    environment: conversation.environment,
    // PROTOCOL section 3: `finalizing` until everything sent before the end is stored.
    status: lifecycle.status,
    codec: conversation.codec,
    sample_rate: conversation.sample_rate,
    // Durable audio: what the ingress confirmed, or what is already persisted if that is more.
    position: Math.max(conversation.durable_position ?? 0, facts.audio.endPosition),
    duration_ms: facts.audio.durationMs,
    // Said, never hidden: chunk records from before `samples` are measured a bounded number per answer.
    ...((facts.audio.unmeasuredChunks ?? 0) > 0 ? { duration_unmeasured_chunks: facts.audio.unmeasuredChunks } : {}),
    sessions,
    segments: facts.segmentCount,
    // `done` / `failed` only for the newest extraction generation's finished run.
    extraction: extraction
      ? {
          status: lifecycle.extractionStatus,
          people: extraction.people.map((p) => ({
            person_id: p.person_id,
            status: p.status,
            ...(p.reason !== undefined ? { reason: p.reason } : {}),
            samples: p.samples,
          })),
        }
      : { status: "pending", people: [] },
    // Only when some could never be stored (the events worker dead-lettered them): which, and why.
    ...((conversation.rejected_events?.length ?? 0) > 0
      ? {
          rejected_segments: (conversation.rejected_events ?? []).flatMap((e) =>
            e.segment_ids.map((id) => ({ segment_id: id, reason: e.reason })),
          ),
        }
      : {}),
  };
}

/** A session document; one without `session_id` is named by its document id. */
const listedSessionSchema = sessionDocSchema.partial({ session_id: true });

/** Sessions a conversation answer lists: the newest, however often the client reconnected. */
export const MAX_SESSIONS_LISTED = 100;

export async function listSessions(db: Firestore, conversationId: string): Promise<SessionDoc[]> {
  const snapshot = await queryOf(conversationRef(db, conversationId).collection(COLLECTIONS.sessions))
    .order("started_at", "desc")
    .limit(MAX_SESSIONS_LISTED)
    .get();
  return snapshot.docs.map((doc) => {
    const session = parseDocument(listedSessionSchema, doc.ref.path, doc.data());
    return { ...session, session_id: session.session_id ?? doc.id };
  });
}

export async function countSegments(db: Firestore, conversationId: string): Promise<number> {
  const snapshot = await conversationRef(db, conversationId).collection(COLLECTIONS.segments).count().get();
  return snapshot.data().count;
}

export interface SegmentView {
  id: string;
  start: number;
  end: number;
  text: string;
  speaker: string | null;
  is_user: boolean;
  /** The speaker assignment if one was sent (from any session), else the segment's own. */
  person_id: string | null;
  session_id: string;
}

/** A stored segment as the API shows it, with its assignment if one was sent. Pure. */
export function segmentView(segment: SegmentDoc, assigned: ReadonlyMap<string, string>): SegmentView {
  return {
    id: segment.id,
    start: segment.start,
    end: segment.end,
    text: segment.text,
    speaker: segment.speaker,
    is_user: segment.is_user,
    person_id: assigned.get(segment.id) ?? segment.person_id,
    session_id: segment.session_id,
  };
}

/** Segments of every session with assignments applied, by start, then end, then id. Pure. */
export function segmentsView(segments: readonly SegmentDoc[], assignments: readonly AssignmentDoc[]): SegmentView[] {
  const assigned = new Map(assignments.map((a) => [a.segment_id, a.person_id]));
  return segments
    .map((s) => segmentView(s, assigned))
    .sort((a, b) => a.start - b.start || a.end - b.end || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
