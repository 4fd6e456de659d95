/**
 * The rules of a person's speaker profile, pure: which samples it keeps (the best
 * `maxSamples` by quality score) and its embedding (the mean of the kept samples' of one
 * model). Speaker extraction merges new samples by them (extract-speakers/profile-store.ts),
 * and a conversation's purge strips its samples by them (deletion/purge.ts).
 */
import type { PersonSample } from "../shared/firestore-schema";

/** A sample's or a profile's embedding, with the model and dimension that make vectors comparable. */
export interface SpeakerEmbedding {
  readonly model: string;
  readonly dim: number;
  readonly vector: number[];
}

export function l2Normalize(vector: readonly number[]): number[] {
  const norm = Math.sqrt(vector.reduce((sum, x) => sum + x * x, 0));
  return norm > 0 ? vector.map((x) => x / norm) : vector.map(() => 0);
}

/**
 * A person's profile embedding: the normalised mean of the normalised sample embeddings of
 * one model. Returns null when none of them is of that model.
 */
export function profileEmbedding(
  embeddings: readonly (SpeakerEmbedding | null | undefined)[],
  model: string,
): SpeakerEmbedding | null {
  const same = embeddings.filter((e): e is SpeakerEmbedding => e != null && e.model === model);
  const first = same[0];
  if (first === undefined) return null;
  const sum = new Array<number>(first.dim).fill(0);
  for (const embedding of same) {
    if (embedding.dim !== first.dim) continue;
    l2Normalize(embedding.vector).forEach((x, i) => {
      sum[i] = (sum[i] as number) + x;
    });
  }
  return { model, dim: first.dim, vector: l2Normalize(sum) };
}

/** What the rules read of a person's document. */
export interface PersonProfile {
  readonly samples: PersonSample[];
  readonly embedding: SpeakerEmbedding | null;
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
