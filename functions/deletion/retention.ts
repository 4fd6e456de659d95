/**
 * Retention (`tether:retentionDays`): Cloud Scheduler publishes a `retention` message to the
 * deletion topic every day; the delete-data worker deletes each conversation whose last
 * change is older than the period, through the same path as a DELETE (tombstone, purge,
 * notification). It also finishes deletions whose purge never completed (a DELETE whose
 * deletion message was lost). A run handles a bounded page; a full page publishes the next
 * run, so a backlog drains without one invocation outliving its deadline.
 */
import type { Firestore, Timestamp } from "@google-cloud/firestore";
import { queryOf } from "../../shared/firestore-query";
import { COLLECTIONS, CONVERTERS } from "../../shared/firestore-schema";

/** Conversations deleted per run (each a purge of its stores). */
export const RETENTION_PAGE = 50;
/** A tombstone not purged this long after its request had its deletion message lost. */
export const UNPURGED_GRACE_MS = 10 * 60_000;

const DAY_MS = 24 * 3600 * 1000;

/** The moment before which a conversation's data has outlived `retentionDays`. Pure. */
export function retentionCutoff(now: Date, retentionDays: number): Date {
  return new Date(now.getTime() - retentionDays * DAY_MS);
}

/**
 * Whether a conversation has expired: its last change (the end of its stream, or any later
 * write) is before the cutoff, and it is not already being deleted. Pure.
 */
export function isExpired(
  conversation: { readonly updated_at: Pick<Timestamp, "toMillis">; readonly deleted_at?: unknown },
  cutoff: Date,
): boolean {
  return conversation.deleted_at === undefined && conversation.updated_at.toMillis() < cutoff.getTime();
}

/** One page of expired conversations, oldest first (a single-field range: no composite index). */
export async function expiredConversations(db: Firestore, cutoff: Date): Promise<{ ids: string[]; full: boolean }> {
  const snapshot = await queryOf(db.collection(COLLECTIONS.conversations).withConverter(CONVERTERS.conversation))
    .filter("updated_at", "<", cutoff)
    .order("updated_at")
    .limit(RETENTION_PAGE)
    .get();
  const ids = snapshot.docs.filter((doc) => isExpired(doc.data(), cutoff)).map((doc) => doc.id);
  return { ids, full: snapshot.size === RETENTION_PAGE };
}

/** Tombstones whose purge has not completed within the grace. */
export async function unpurgedTombstones(
  db: Firestore,
  now: Date,
): Promise<Array<{ conversationId: string; userId: string; reason: string }>> {
  const snapshot = await queryOf(db.collection(COLLECTIONS.tombstones).withConverter(CONVERTERS.tombstone))
    .filter("purged_at", "==", null)
    .limit(RETENTION_PAGE)
    .get();
  return snapshot.docs
    .map((doc) => doc.data())
    .filter((t) => now.getTime() - t.requested_at.toMillis() >= UNPURGED_GRACE_MS)
    .map((t) => ({ conversationId: t.conversation_id, userId: t.user_id, reason: t.reason }));
}
