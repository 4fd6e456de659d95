/**
 * A user's speaker profile of one person at `users/{user_key}/people/{person_id}` (each
 * user's person ids are their own): at most `maxSamples` samples across
 * conversations (the best by quality score) and the profile embedding, the mean of the kept
 * samples' embeddings of the current model.
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
import { profileEmbedding, type SpeakerEmbedding } from "./embedding";

/** What a profile update needs of a person's document; the rest of it may be absent. */
const profileSchema = personDocSchema.pick({ samples: true, embedding: true });

export interface PersonProfile {
  readonly samples: PersonSample[];
  readonly embedding: SpeakerEmbedding | null;
}

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

/** Samples written before quality scores existed rank by length alone. */
export function sampleScore(sample: PersonSample): number {
  return sample.quality?.score ?? Math.min(1, sample.duration_ms / 10_000) * 0.5;
}

const byScore = (a: { score: number; id: string }, b: { score: number; id: string }): number =>
  b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export interface SampleCompetition {
  /** Candidate ids (not yet stored) that would enter the kept set. */
  readonly worthCutting: string[];
  /** Candidate ids already stored in the profile. */
  readonly alreadyStored: string[];
  /** Lowest score among samples that would be kept, when the profile is full. */
  readonly lowestKeptScore: number | null;
}

/**
 * Which of this conversation's candidates can make the person's best `maxSamples`, given
 * the stored samples. Estimated scores are upper bounds, so a candidate left out here could
 * not have been kept after cutting either. Pure.
 */
export function competeForSlots(
  stored: readonly PersonSample[],
  conversationId: string,
  candidates: readonly { sampleId: string; estimatedScore: number }[],
  maxSamples: number,
): SampleCompetition {
  const proposed = new Set(candidates.map((c) => c.sampleId));
  const standing = stored.filter((s) => s.conversation_id !== conversationId || proposed.has(s.sample_id));
  const storedIds = new Set(standing.map((s) => s.sample_id));
  const entries = [
    ...standing.map((s) => ({ id: s.sample_id, score: sampleScore(s), candidate: false })),
    ...candidates
      .filter((c) => !storedIds.has(c.sampleId))
      .map((c) => ({ id: c.sampleId, score: c.estimatedScore, candidate: true })),
  ].sort(byScore);
  const kept = entries.slice(0, maxSamples);
  return {
    worthCutting: kept.filter((e) => e.candidate).map((e) => e.id),
    alreadyStored: candidates.filter((c) => storedIds.has(c.sampleId)).map((c) => c.sampleId),
    lowestKeptScore: entries.length >= maxSamples ? (kept.at(-1)?.score ?? null) : null,
  };
}

export interface ProfileChange {
  readonly personId: string;
  readonly userId: string;
  readonly conversationId: string;
  /** Every sample id selection proposes for this person in this conversation now. */
  readonly proposedIds: ReadonlySet<string>;
  /** Newly cut samples (their WAVs are already written). */
  readonly added: readonly PersonSample[];
  /** Fresh embeddings for stored samples whose model is not the current one. */
  readonly reembedded: ReadonlyMap<string, SpeakerEmbedding>;
  readonly maxSamples: number;
  /** The embedding model in use, or null when nothing was embedded this run. */
  readonly model: string | null;
}

export interface MergedProfile {
  readonly samples: PersonSample[];
  /** Samples no longer referenced: retired from this conversation or outranked. */
  readonly dropped: PersonSample[];
  readonly embedding: SpeakerEmbedding | null;
}

/** The profile after a change: pure, so the conditional write around it is trivial, and unit-tested. */
export function mergeProfile(current: PersonProfile | undefined, change: ProfileChange): MergedProfile {
  const stored = current?.samples ?? [];
  const retired = stored.filter(
    (s) => s.conversation_id === change.conversationId && !change.proposedIds.has(s.sample_id),
  );
  const standing = stored
    .filter((s) => !retired.includes(s))
    .map((s) => {
      const fresh = change.reembedded.get(s.sample_id);
      return fresh ? { ...s, embedding: { ...fresh } } : s;
    });
  const ids = new Set(standing.map((s) => s.sample_id));
  const pool = [...standing, ...change.added.filter((s) => !ids.has(s.sample_id))];
  const ranked = pool
    .map((s) => ({ s, id: s.sample_id, score: sampleScore(s) }))
    .sort(byScore)
    .map((e) => e.s);
  const samples = ranked.slice(0, change.maxSamples);
  const dropped = [...retired, ...ranked.slice(change.maxSamples)];
  const model = change.model ?? current?.embedding?.model ?? null;
  const computed =
    model === null
      ? null
      : profileEmbedding(
          samples.map((s) => s.embedding),
          model,
        );
  const embedding = computed ?? (samples.length > 0 ? (current?.embedding ?? null) : null);
  return { samples, dropped, embedding };
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
