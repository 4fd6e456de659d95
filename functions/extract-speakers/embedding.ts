/**
 * Speaker embeddings: a fixed-length vector per speech sample, compared by cosine
 * similarity. Two implementations sit behind `SpeakerEmbedder`:
 *
 * - `dsp-embedding.ts`, built in: spectral and pitch statistics computed in Node, offline;
 * - `http-embedding.ts`, a client for a hosted (neural) embedding service, chosen when
 *   `TETHER_EMBEDDING_URL` is set.
 *
 * Every embedding (`SpeakerEmbedding`, ../person-profile.ts) records the model that produced
 * it and its dimension, because vectors of different models must never be compared or averaged.
 */
import type { SpeakerEmbedding } from "../person-profile";

export interface SpeakerEmbedder {
  /** The model this embedder is configured for (the hosted service may report a more precise name). */
  readonly model: string;
  /** `samples` is PCM16 mono audio at `sampleRate`. */
  embed(samples: Int16Array, sampleRate: number): Promise<SpeakerEmbedding>;
}

/** The embedder could not produce a vector (service down, bad answer): worth retrying. */
export class EmbeddingError extends Error {
  override name = "EmbeddingError";
}

/** The audio holds too little speech for any vector: retrying cannot help. */
export class InsufficientSpeechError extends EmbeddingError {
  override name = "InsufficientSpeechError";
}

/** Cosine similarity in [-1, 1]; throws if the vectors have different dimensions. */
export function cosineSimilarity(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length)
    throw new EmbeddingError(`cannot compare vectors of dimension ${a.length} and ${b.length}`);
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i += 1) {
    const x = a[i] as number;
    const y = b[i] as number;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0;
}
