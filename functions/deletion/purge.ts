/**
 * The purge of a deleted conversation (its tombstone exists): everything of it goes from
 * every store, and only the tombstone is left.
 *   1. the bucket's `conversations/{id}/` prefix (chunks, anything else under it);
 *   2. the conversation record and every subcollection (sessions, chunks, segments,
 *      speaker assignments, applied-event markers), recursively;
 *   3. its speaker samples: each of the owner's profiles (no other user's: person ids are
 *      scoped per user) is recomputed without them
 *      (the embedding is the mean of the samples left), and their WAVs are deleted, also
 *      ones an extraction run wrote but never committed (found by the object's metadata).
 *
 * Idempotent and safe to run concurrently with itself. A worker whose write was in flight
 * when the tombstone was written sees the tombstone after its write and runs the purge
 * again (./guard.ts): a write the purge's listing missed happened before that check, so the
 * second purge lists it. Nothing of the conversation outlives the last purge.
 */
import { FieldValue, type Firestore, Timestamp } from "@google-cloud/firestore";
import type { Bucket } from "@google-cloud/storage";
import {
  conversationRef,
  parseDocument,
  peopleOf,
  personDocSchema,
  personRef,
  tombstoneRef,
  userKey,
} from "../../shared/firestore-schema";
import type { Logger } from "../../shared/logger";
import { conversationPrefix, personPrefix } from "../../shared/storage-paths";
import { untilUnchanged } from "../conditional-write";
import { mergeProfile } from "../person-profile";

export interface PurgeDeps {
  readonly db: Firestore;
  readonly bucket: Bucket;
}

export interface PurgeStats {
  readonly objects: number;
  readonly profiles: number;
  readonly samples: number;
}

/** Deletes every object under `prefix` whose custom metadata passes `keep` (all by default). */
async function deleteObjects(
  bucket: Bucket,
  prefix: string,
  select: (metadata: Record<string, unknown>) => boolean = () => true,
): Promise<number> {
  const [files] = await bucket.getFiles({ prefix });
  const doomed = files.filter((f) => select((f.metadata.metadata ?? {}) as Record<string, unknown>));
  await Promise.all(doomed.map((f) => f.delete({ ignoreNotFound: true })));
  return doomed.length;
}

/**
 * Removes the conversation's samples from one profile (a conditional write: a concurrent
 * extraction's commit makes it read again). Returns how many it removed.
 */
async function stripProfile(db: Firestore, userId: string, personId: string, conversationId: string): Promise<number> {
  const ref = personRef(db, userId, personId);
  return await untilUnchanged(`the profile of person ${personId}`, async () => {
    const snapshot = await ref.get();
    if (!snapshot.exists || snapshot.updateTime === undefined) return 0;
    const person = parseDocument(personDocSchema, ref.path, snapshot.data());
    if (!person.samples.some((s) => s.conversation_id === conversationId)) return 0;
    const merged = mergeProfile(
      { samples: person.samples, embedding: person.embedding },
      {
        personId,
        userId,
        conversationId,
        proposedIds: new Set(),
        added: [],
        reembedded: new Map(),
        maxSamples: person.samples.length,
        model: null,
      },
    );
    await ref.update(
      { samples: merged.samples, embedding: merged.embedding, updated_at: FieldValue.serverTimestamp() },
      { lastUpdateTime: snapshot.updateTime },
    );
    return merged.dropped.length;
  });
}

/** Every person of `userId`: the user's own collection, no query. */
async function personIdsOf(db: Firestore, userId: string): Promise<string[]> {
  const snapshot = await peopleOf(db, userId).select().get();
  return snapshot.docs.map((doc) => doc.id);
}

/** Purges conversation `conversationId` of user `userId`; the tombstone is the caller's to check. */
export async function purgeConversation(
  deps: PurgeDeps,
  conversation: { readonly conversationId: string; readonly userId: string },
  logger: Logger,
): Promise<PurgeStats> {
  const { db, bucket } = deps;
  const { conversationId, userId } = conversation;
  const objects = await deleteObjects(bucket, conversationPrefix(conversationId));
  await db.recursiveDelete(conversationRef(db, conversationId));
  let profiles = 0;
  let samples = 0;
  for (const personId of await personIdsOf(db, userId)) {
    const removed = await stripProfile(db, userId, personId, conversationId);
    if (removed > 0) profiles += 1;
    // After the profile no longer names them: a reader never finds a sample without its WAV.
    samples += await deleteObjects(
      bucket,
      personPrefix(personId, userKey(userId)),
      (m) => m.conversation_id === conversationId,
    );
  }
  await tombstoneRef(db, conversationId).update({ purged_at: Timestamp.now() });
  const stats = { objects, profiles, samples };
  logger.info({ ...stats }, "conversation purged: only its tombstone is left");
  return stats;
}

/**
 * Deletes one user's profile of a person: its samples' WAVs and the document (samples and
 * embedding). Another user's profile of the same person id is not touched.
 */
export async function purgePerson(
  deps: PurgeDeps,
  person: { readonly userId: string; readonly personId: string },
  logger: Logger,
): Promise<number> {
  const { userId, personId } = person;
  const objects = await deleteObjects(deps.bucket, personPrefix(personId, userKey(userId)));
  await personRef(deps.db, userId, personId).delete();
  logger.info({ person_id: personId, objects }, "person's samples and embedding deleted");
  return objects;
}
