/**
 * Segments and speaker assignments, stored per conversation (never per socket session):
 * one document per segment id and one per assigned segment id, so an assignment sent in
 * any session applies to a segment sent in any other, in whichever order they arrive.
 *
 * Each document remembers the revision of the event that wrote it (shared/lifecycle.ts
 * `eventRevision`, assigned by the ingress: the socket's ordinal, then the event's number);
 * an event replaces it only if it is newer, so a redelivered or late older event changes
 * nothing, whatever Pub/Sub's publish times say. A redelivery of the very event that wrote a
 * document (the same revision) rewrites nothing either: it is reported as `same`.
 */
import { type DocumentReference, FieldValue, type Firestore } from "@google-cloud/firestore";
import { type AssignmentDoc, assignmentRef, type SegmentDoc, segmentRef } from "../../shared/firestore-schema";
import type { Segment } from "../../shared/messages";

/** How an incoming event's revision compares with the stored document's. */
export function compareRevision(
  storedRevision: number | undefined,
  incomingRevision: number,
): "newer" | "same" | "stale" {
  if (storedRevision === undefined || incomingRevision > storedRevision) return "newer";
  return incomingRevision === storedRevision ? "same" : "stale";
}

/** Transactions stay well below Firestore's per-commit limits. */
const DOCUMENTS_PER_TRANSACTION = 200;

export interface UpsertResult {
  /** Ids written by this event. */
  readonly written: string[];
  /** Ids this very event wrote before (a redelivery): left as they are. */
  readonly same: string[];
  /** Ids left alone because a newer event already wrote them. */
  readonly stale: string[];
}

/** Last occurrence of each id wins within one event. */
function lastById<T>(items: readonly T[], id: (item: T) => string): Map<string, T> {
  return new Map(items.map((item) => [id(item), item]));
}

async function upsertVersioned<T>(
  db: Firestore,
  items: ReadonlyMap<string, T>,
  ref: (id: string) => DocumentReference,
  toDoc: (item: T) => Record<string, unknown>,
  revision: number,
): Promise<UpsertResult> {
  const result: UpsertResult = { written: [], same: [], stale: [] };
  const ids = [...items.keys()];
  for (let i = 0; i < ids.length; i += DOCUMENTS_PER_TRANSACTION) {
    const batch = ids.slice(i, i + DOCUMENTS_PER_TRANSACTION);
    const outcome = await db.runTransaction(async (tx) => {
      const refs = batch.map(ref);
      const snapshots = await tx.getAll(...refs);
      const written: string[] = [];
      const same: string[] = [];
      const stale: string[] = [];
      for (const [j, id] of batch.entries()) {
        const stored = snapshots[j]?.data() as { revision?: number } | undefined;
        const comparison = compareRevision(stored?.revision, revision);
        if (comparison !== "newer") {
          (comparison === "same" ? same : stale).push(id);
          continue;
        }
        tx.set(refs[j] as DocumentReference, { ...toDoc(items.get(id) as T), revision });
        written.push(id);
      }
      return { written, same, stale };
    });
    result.written.push(...outcome.written);
    result.same.push(...outcome.same);
    result.stale.push(...outcome.stale);
  }
  return result;
}

export async function upsertSegments(
  db: Firestore,
  conversationId: string,
  sessionId: string,
  segments: readonly Segment[],
  revision: number,
): Promise<UpsertResult> {
  return await upsertVersioned(
    db,
    lastById(segments, (s) => s.id),
    (id) => segmentRef(db, conversationId, id),
    (segment): Omit<SegmentDoc, "updated_at" | "revision"> & { updated_at: FieldValue } => ({
      ...segment,
      session_id: sessionId,
      updated_at: FieldValue.serverTimestamp(),
    }),
    revision,
  );
}

export async function assignSpeaker(
  db: Firestore,
  conversationId: string,
  sessionId: string,
  personId: string,
  segmentIds: readonly string[],
  revision: number,
): Promise<UpsertResult> {
  return await upsertVersioned(
    db,
    lastById(segmentIds, (id) => id),
    (id) => assignmentRef(db, conversationId, id),
    (segmentId): Omit<AssignmentDoc, "assigned_at" | "revision"> & { assigned_at: FieldValue } => ({
      segment_id: segmentId,
      person_id: personId,
      session_id: sessionId,
      assigned_at: FieldValue.serverTimestamp(),
    }),
    revision,
  );
}
