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
import { type DocumentReference, type DocumentSnapshot, FieldValue, type Firestore } from "@google-cloud/firestore";
import { type AssignmentDoc, assignmentRef, type SegmentDoc, segmentRef } from "../../shared/firestore-schema";
import type { Segment } from "../../shared/messages";
import { untilUnchanged } from "../conditional-write";

/** How an incoming event's revision compares with the stored document's. */
export function compareRevision(
  storedRevision: number | undefined,
  incomingRevision: number,
): "newer" | "same" | "stale" {
  if (storedRevision === undefined || incomingRevision > storedRevision) return "newer";
  return incomingRevision === storedRevision ? "same" : "stale";
}

/** One commit's writes stay well below Firestore's per-commit limits. */
const DOCUMENTS_PER_COMMIT = 200;

export interface UpsertResult {
  /** Ids written by this event. */
  readonly written: string[];
  /** Ids this very event wrote before (a redelivery): left as they are. */
  readonly same: string[];
  /** Ids left alone because a newer event already wrote them. */
  readonly stale: string[];
  /**
   * The newest commit time of what this event wrote, now (its commit) or on an earlier
   * delivery (the `same` documents' update time, as read); undefined when it owns none.
   */
  readonly lastWriteMs: number | undefined;
}

/** The later of two optional times. */
function later(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.max(a, b);
}

/** Last occurrence of each id wins within one event. */
function lastById<T>(items: readonly T[], id: (item: T) => string): Map<string, T> {
  return new Map(items.map((item) => [id(item), item]));
}

/**
 * `doc` as an update that leaves exactly `doc` stored: the fields of `stored` (read with the
 * update's precondition, so they are the fields there) that `doc` lacks are deleted.
 */
function replacing(stored: Record<string, unknown>, doc: Record<string, unknown>): Record<string, unknown> {
  const update: Record<string, unknown> = { ...doc };
  for (const field of Object.keys(stored)) if (!(field in doc)) update[field] = FieldValue.delete();
  return update;
}

/**
 * Writes each item whose stored document is older than `revision`: one read of the
 * documents, then one commit whose every write is conditional on its document being as
 * read (created only if still absent, replaced only if unchanged since the read), so a
 * concurrent copy of the event or a newer event that wrote in between makes the commit
 * fail as a whole and the round starts again (../conditional-write.ts). No transaction:
 * concurrent copies of one event (Pub/Sub delivers more than once) deadlocked on their
 * read locks until the database gave one up.
 */
async function upsertVersioned<T>(
  db: Firestore,
  items: ReadonlyMap<string, T>,
  ref: (id: string) => DocumentReference,
  toDoc: (item: T) => Record<string, unknown>,
  revision: number,
): Promise<UpsertResult> {
  const result = {
    written: [] as string[],
    same: [] as string[],
    stale: [] as string[],
    lastWriteMs: undefined as number | undefined,
  };
  const ids = [...items.keys()];
  for (let i = 0; i < ids.length; i += DOCUMENTS_PER_COMMIT) {
    const page = ids.slice(i, i + DOCUMENTS_PER_COMMIT);
    const refs = page.map(ref);
    const outcome = await untilUnchanged(`${page.length} document(s) of revision ${revision}`, async () => {
      const snapshots = await db.getAll(...refs);
      const batch = db.batch();
      const written: string[] = [];
      const same: string[] = [];
      const stale: string[] = [];
      let lastWriteMs: number | undefined;
      for (const [j, id] of page.entries()) {
        const snapshot = snapshots[j] as DocumentSnapshot;
        const stored = snapshot.data();
        const comparison = compareRevision(stored?.revision as number | undefined, revision);
        if (comparison === "same") lastWriteMs = later(lastWriteMs, snapshot.updateTime?.toMillis());
        if (comparison !== "newer") {
          (comparison === "same" ? same : stale).push(id);
          continue;
        }
        const doc = { ...toDoc(items.get(id) as T), revision };
        const target = refs[j] as DocumentReference;
        if (stored === undefined || snapshot.updateTime === undefined) batch.create(target, doc);
        else batch.update(target, replacing(stored, doc), { lastUpdateTime: snapshot.updateTime });
        written.push(id);
      }
      // Every write of one commit carries the commit's time.
      if (written.length > 0) lastWriteMs = later(lastWriteMs, (await batch.commit())[0]?.writeTime.toMillis());
      return { written, same, stale, lastWriteMs };
    });
    result.written.push(...outcome.written);
    result.same.push(...outcome.same);
    result.stale.push(...outcome.stale);
    result.lastWriteMs = later(result.lastWriteMs, outcome.lastWriteMs);
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
