/**
 * `users/{user_key}/people/{person_id}`: a speaker profile built from samples across one
 * user's conversations (speaker extraction writes it). Person ids are the client's: two
 * users' `p1` are two profiles. The schemas are the one home of the shapes; the types
 * derive from them.
 */
import { z } from "zod";
import { type DocumentOf, documentSchema, timestamp } from "./document-schema";

const embeddingSchema = z.object({ model: z.string(), dim: z.number().int(), vector: z.array(z.number()) });

/** How good a speaker sample is; `score` in [0, 1], higher is better. */
export const personSampleQualitySchema = z.object({
  score: z.number(),
  duration_ms: z.number(),
  /** Share of the window covered by the person's segments. */
  speech_coverage: z.number(),
  /** Share covered by segments explicitly named as the person. */
  assigned_coverage: z.number(),
  /** Distance to the nearest other speaker's segment (capped at 2 s). */
  margin_ms: z.number(),
  /** Share of 25 ms frames with active speech. */
  active_ratio: z.number().optional(),
  clipped_ratio: z.number().optional(),
  active_level_dbfs: z.number().optional(),
});
export type PersonSampleQuality = z.output<typeof personSampleQualitySchema>;

/** One sample of a person; unknown fields are dropped (a profile rewrites its samples whole). */
export const personSampleSchema = z.object({
  /** `gs://{bucket}/people/{person_id}/{user_key}/samples/{sample_id}.wav` (storage-paths.ts) */
  uri: z.string(),
  sample_id: z.string().min(1),
  conversation_id: z.string(),
  segment_ids: z.array(z.string()),
  duration_ms: z.number(),
  // Written by speaker extraction (optional: older samples may lack them).
  /** The window in the conversation, milliseconds from its position 0. */
  start_ms: z.number().optional(),
  end_ms: z.number().optional(),
  sample_rate: z.number().optional(),
  /** Ranks samples when a person has more than the cap (functions/extract-speakers/sample-quality.ts). */
  quality: personSampleQualitySchema.optional(),
  /** This sample's own embedding; the person's `embedding` is the mean of these. */
  embedding: embeddingSchema.optional(),
});
export type PersonSample = z.output<typeof personSampleSchema>;

export const personDocSchema = documentSchema({
  id: z.string(),
  user_id: z.string(),
  samples: z.array(personSampleSchema).default([]),
  embedding: embeddingSchema.nullable().default(null),
  updated_at: timestamp,
});
export type PersonDoc = DocumentOf<typeof personDocSchema>;
