/**
 * Segments and speaker assignments, stored per conversation (never per socket session):
 * one document per segment id and one per assigned segment id, so an assignment sent in
 * any session applies to a segment sent in any other, in whichever order they arrive.
 *
 * Each document remembers the publish time of the event that wrote it; an event replaces
 * it only if it is at least as new, so a redelivered older event changes nothing.
 */
import { type DocumentReference, FieldValue, type Firestore } from "@google-cloud/firestore";
import { type AssignmentDoc, assignmentRef, type SegmentDoc, segmentRef } from "../../shared/firestore-schema";
import type { Segment } from "../../shared/messages";

/** Replace a stored document only with an event at least as new as the one that wrote it. */
export function isNewerOrSame(storedPublishedAtMs: number | undefined, incomingPublishedAtMs: number): boolean {
  return storedPublishedAtMs === undefined || incomingPublishedAtMs >= storedPublishedAtMs;
}

/** Transactions stay well below Firestore's per-commit limits. */
const DOCUMENTS_PER_TRANSACTION = 200;

export interface UpsertResult {
  /** Ids written by this event. */
  readonly written: string[];
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
  publishedAtMs: number,
): Promise<UpsertResult> {
  const result: UpsertResult = { written: [], stale: [] };
  const ids = [...items.keys()];
  for (let i = 0; i < ids.length; i += DOCUMENTS_PER_TRANSACTION) {
    const batch = ids.slice(i, i + DOCUMENTS_PER_TRANSACTION);
    const outcome = await db.runTransaction(async (tx) => {
      const refs = batch.map(ref);
      const snapshots = await tx.getAll(...refs);
      const written: string[] = [];
      const stale: string[] = [];
      for (const [j, id] of batch.entries()) {
        const stored = snapshots[j]?.data() as { published_at_ms?: number } | undefined;
        if (!isNewerOrSame(stored?.published_at_ms, publishedAtMs)) {
          stale.push(id);
          continue;
        }
        tx.set(refs[j] as DocumentReference, { ...toDoc(items.get(id) as T), published_at_ms: publishedAtMs });
        written.push(id);
      }
      return { written, stale };
    });
    result.written.push(...outcome.written);
    result.stale.push(...outcome.stale);
  }
  return result;
}

export async function upsertSegments(
  db: Firestore,
  conversationId: string,
  sessionId: string,
  segments: readonly Segment[],
  publishedAtMs: number,
): Promise<UpsertResult> {
  return await upsertVersioned(
    db,
    lastById(segments, (s) => s.id),
    (id) => segmentRef(db, conversationId, id),
    (segment): Omit<SegmentDoc, "updated_at" | "published_at_ms"> & { updated_at: FieldValue } => ({
      ...segment,
      session_id: sessionId,
      updated_at: FieldValue.serverTimestamp(),
    }),
    publishedAtMs,
  );
}

export async function assignSpeaker(
  db: Firestore,
  conversationId: string,
  sessionId: string,
  personId: string,
  segmentIds: readonly string[],
  publishedAtMs: number,
): Promise<UpsertResult> {
  return await upsertVersioned(
    db,
    lastById(segmentIds, (id) => id),
    (id) => assignmentRef(db, conversationId, id),
    (segmentId): Omit<AssignmentDoc, "assigned_at" | "published_at_ms"> & { assigned_at: FieldValue } => ({
      segment_id: segmentId,
      person_id: personId,
      session_id: sessionId,
      assigned_at: FieldValue.serverTimestamp(),
    }),
    publishedAtMs,
  );
}
