/**
 * A user's speaker profile of one person at `users/{user_key}/people/{person_id}` (each
 * user's person ids are their own), stored: at most `maxSamples` samples across
 * conversations and the profile embedding, by the rules of ../person-profile.ts.
 *
 * Updates are conditional writes (see `commitProfile`) keyed by deterministic sample ids, so
 * running the same extraction twice, or two extractions at once, never duplicates a sample. A sample of
 * this conversation that selection no longer proposes (say, its segment was re-assigned)
 * is retired on the next run.
 */
import { FieldValue, type Firestore } from "@google-cloud/firestore";
import type { Bucket } from "@google-cloud/storage";
import {
  type PersonSample,
  parseDocument,
  personDocSchema,
  personRef,
  readConversation,
  userKey,
} from "../../shared/firestore-schema";
import { mayRecordExtraction } from "../../shared/lifecycle";
import { personSampleObjectName } from "../../shared/storage-paths";
import { untilUnchanged } from "../conditional-write";
import { type MergedProfile, mergeProfile, type PersonProfile, type ProfileChange } from "../person-profile";

/** What a profile update needs of a person's document; the rest of it may be absent. */
const profileSchema = personDocSchema.pick({ samples: true, embedding: true });

function parseProfile(path: string, data: unknown): PersonProfile {
  const profile = parseDocument(profileSchema, path, data);
  return { samples: profile.samples, embedding: profile.embedding };
}

/** The profiles of `personIds` that `userId` has. */
export async function readProfiles(
  db: Firestore,
  userId: string,
  personIds: readonly string[],
): Promise<Map<string, PersonProfile>> {
  if (personIds.length === 0) return new Map();
  const snapshots = await db.getAll(...personIds.map((id) => personRef(db, userId, id)));
  const profiles = new Map<string, PersonProfile>();
  snapshots.forEach((snapshot, i) => {
    const id = personIds[i] as string;
    if (snapshot.exists) profiles.set(id, parseProfile(snapshot.ref.path, snapshot.data()));
  });
  return profiles;
}

/** A run whose extraction generation is no longer the newest: it writes nothing more. */
export class StaleGenerationError extends Error {
  override name = "StaleGenerationError";
}

/**
 * Merges `change` into the person's profile, only while the run's extraction generation is
 * still the conversation's newest (`guard`): an older run can never retire samples that a
 * newer one chose.
 *
 * A conditional write (../conditional-write.ts), not a transaction: the profile is read,
 * then the guard, and the merge is written on the condition that the profile did not change
 * since it was read, else all of it is read again. A newer run's write that lands after this read fails the
 * condition; one that landed before it belongs to a generation that started before the
 * guard was read, which then refuses.
 */
export async function commitProfile(
  db: Firestore,
  change: ProfileChange,
  guard: { readonly generation: number },
): Promise<MergedProfile> {
  const ref = personRef(db, change.userId, change.personId);
  return await untilUnchanged(`the profile of person ${change.personId}`, async () => {
    const snapshot = await ref.get();
    const run = (await readConversation(db, change.conversationId))?.data;
    if (run === undefined || !mayRecordExtraction(run, guard.generation)) {
      throw new StaleGenerationError(
        `extraction generation ${guard.generation} of conversation ${change.conversationId} is no longer the newest`,
      );
    }
    const current = snapshot.exists ? parseProfile(ref.path, snapshot.data()) : undefined;
    const merged = mergeProfile(current, change);
    const fields = {
      id: change.personId,
      user_id: change.userId,
      samples: merged.samples,
      embedding: merged.embedding,
      updated_at: FieldValue.serverTimestamp(),
    };
    if (snapshot.exists && snapshot.updateTime !== undefined) {
      await ref.update(fields, { lastUpdateTime: snapshot.updateTime });
    } else {
      await ref.create(fields);
    }
    return merged;
  });
}

/** Where a user's sample of `personId` is stored. */
export function sampleObjectName(userId: string, personId: string, sampleId: string): string {
  return personSampleObjectName(personId, userKey(userId), sampleId);
}

export function sampleUri(bucketName: string, userId: string, personId: string, sampleId: string): string {
  return `gs://${bucketName}/${sampleObjectName(userId, personId, sampleId)}`;
}

/**
 * Deletes the WAVs of dropped samples that the profile no longer references (re-read after
 * the commit: a concurrent run may have re-added one). A missing object is fine.
 */
export async function deleteDroppedSamples(
  db: Firestore,
  bucket: Bucket,
  userId: string,
  personId: string,
  dropped: readonly PersonSample[],
): Promise<number> {
  if (dropped.length === 0) return 0;
  const snapshot = await personRef(db, userId, personId).get();
  const referenced = new Set(
    snapshot.exists ? parseProfile(snapshot.ref.path, snapshot.data()).samples.map((s) => s.sample_id) : [],
  );
  const doomed = dropped.filter((s) => !referenced.has(s.sample_id));
  await Promise.all(
    doomed.map((s) => bucket.file(sampleObjectName(userId, personId, s.sample_id)).delete({ ignoreNotFound: true })),
  );
  return doomed.length;
}
