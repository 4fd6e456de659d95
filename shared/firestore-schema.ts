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
 * Each document has one zod schema, the one home of its shape, by concern:
 * conversation-record.ts (conversations, sessions, tombstones), stream-records.ts (chunks,
 * segments, assignments, applied events, deliveries) and person-record.ts (people). Its type
 * derives from the schema (document-schema.ts `DocumentOf`), and its converter below
 * (`withConverter`) validates on read: a reader that goes through it gets a typed document
 * or an `InvalidDocumentError` naming the document's path and what is wrong. Unknown fields
 * are kept (a document may carry fields one writer adds, e.g. a field a newer writer added).
 */
import crypto from "node:crypto";
import type { Firestore } from "@google-cloud/firestore";
import {
  type ConversationDoc,
  conversationDocSchema,
  type SessionDoc,
  sessionDocSchema,
  type TombstoneDoc,
  tombstoneDocSchema,
} from "./conversation-record";
import { converter, type DocumentRead, readDocument } from "./document-schema";
import { appliedEventId, type EventKey } from "./lifecycle";
import { type PersonDoc, personDocSchema } from "./person-record";
import { paddedChunkIndex, USER_KEY_LENGTH, type UserKey } from "./storage-paths";
import {
  type AppliedEventDoc,
  type AssignmentDoc,
  appliedEventDocSchema,
  assignmentDocSchema,
  type ChunkDoc,
  chunkDocSchema,
  type DeliveryDoc,
  deliveryDocSchema,
  type SegmentDoc,
  segmentDocSchema,
} from "./stream-records";

export * from "./conversation-record";
export { type DocumentRead, fieldsOf, InvalidDocumentError, parseDocument, readDocument } from "./document-schema";
export * from "./person-record";
export * from "./stream-records";

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

/** A conversation's record, read through its converter; undefined when there is none. */
export async function readConversation(
  db: Firestore,
  conversationId: string,
): Promise<DocumentRead<ConversationDoc> | undefined> {
  return await readDocument(conversationRef(db, conversationId), CONVERTERS.conversation);
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
