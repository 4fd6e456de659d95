/**
 * Speaker extraction for one finalized conversation, start to finish:
 *
 *   load   the conversation, every segment and assignment (all sessions), the profiles
 *   select sample windows per person (select-samples.ts), drop those that cannot beat the
 *          person's stored samples, before any audio is read
 *   check  the chunks those windows need; missing audio is retried while it may still be
 *          in flight (the caller redelivers), then reported with its ranges
 *   cut    each window from its chunks (window-audio.ts), measure it, embed it
 *   write  the WAV under `people/{person_id}/{user_key}/samples/`, then the user's profile (a conditional write, profile-store.ts)
 *   report a status per person on the conversation (status.ts) and in the logs
 *
 * What to do at each step (the plan per person, whether to wait, each person's outcome) is
 * decided by the pure functions of extraction-plan.ts; this module reads and writes.
 * Every step is idempotent: sample ids and object names derive from the conversation and
 * the window, and the profile merge de-duplicates by id.
 */
import type { Firestore } from "@google-cloud/firestore";
import type { Bucket } from "@google-cloud/storage";
import { unitsToMilliseconds } from "../../shared/audio-format";
import type { ExtractionSettings } from "../../shared/extraction-settings";
import type { PersonExtraction, PersonSample } from "../../shared/firestore-schema";
import type { Logger } from "../../shared/logger";
import { decodePcm16MonoWav, encodePcm16MonoWav, pcm16Samples } from "../../shared/wav";
import type { MergedProfile, SpeakerEmbedding } from "../person-profile";
import { type ConversationState, loadAssignments, loadConversation, loadSegments } from "./conversation-state";
import { EmbeddingError, InsufficientSpeechError, type SpeakerEmbedder } from "./embedding";
import {
  type CutResult,
  canStillWait,
  type Delivery,
  failedCutRetry,
  missingAudioRetry,
  missingByPerson,
  outcomeFor,
  type PersonPlan,
  pendingSummary,
  planPerson,
  proposedSamples,
  type RetryPlan,
} from "./extraction-plan";
import {
  commitProfile,
  deleteDroppedSamples,
  readProfiles,
  StaleGenerationError,
  sampleObjectName,
  sampleUri,
} from "./profile-store";
import { measureSignal, qualityScore } from "./sample-quality";
import { type SampleCandidate, selectSamples } from "./select-samples";
import { buildTimeline, peopleInTimeline } from "./speaker-timeline";
import { logOutcome, writeSummary } from "./status";
import { AudioMissingError, openWindowAudio, type WindowAudio } from "./window-audio";

export interface ExtractionDeps {
  readonly db: Firestore;
  readonly bucket: Bucket;
  readonly embedder: SpeakerEmbedder;
  readonly settings: ExtractionSettings;
  /** Carries `environment` and `conversation_id`. */
  readonly logger: Logger;
}

export interface ExtractionRequest extends Delivery {
  readonly conversationId: string;
}

export interface ExtractionStats {
  /** Bytes downloaded from the conversation's chunk objects. */
  bytesRead: number;
  objectReads: number;
  samplesWritten: number;
  /** Bytes of the sample WAVs written (headers included). */
  bytesWritten: number;
  samplesDeleted: number;
}

export type ExtractionOutcome =
  | { readonly kind: "conversation_not_found" }
  | { readonly kind: "not_finalized"; readonly status: string }
  /** Something may still resolve itself (audio in flight, embedding service down): redeliver. */
  | { readonly kind: "retry"; readonly reason: "audio_missing" | "embedding_failed"; readonly detail: string }
  /** A newer extraction generation started while this run worked: it wrote nothing more. */
  | { readonly kind: "stale"; readonly generation: number }
  /** The newest generation already has its result (a duplicate or late request). */
  | { readonly kind: "answered"; readonly generation: number }
  | {
      readonly kind: "done";
      readonly status: "pending" | "done" | "failed";
      readonly people: PersonExtraction[];
      readonly stats: ExtractionStats;
    };

/** Runs `task` over `items`, at most `limit` at a time, keeping order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next;
      next += 1;
      results[i] = await task(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * Records the pending summary of a run that waits (one more wait counted on the
 * conversation), logs whom it waits for, and asks for redelivery.
 */
async function retryLater(
  deps: ExtractionDeps,
  conversation: ConversationState,
  plans: readonly PersonPlan[],
  retry: RetryPlan,
): Promise<ExtractionOutcome> {
  await writeSummary(
    deps.db,
    conversation.id,
    conversation.generation,
    pendingSummary(plans, retry.waitingFor),
    conversation.missingAudioWaits + 1,
  );
  for (const outcome of retry.logged) logOutcome(deps.logger, outcome);
  return { kind: "retry", reason: retry.reason, detail: retry.detail };
}

async function cutCandidate(
  deps: ExtractionDeps,
  conversation: ConversationState,
  audio: WindowAudio,
  bucketName: string,
  candidate: SampleCandidate,
): Promise<CutResult> {
  const { settings, embedder } = deps;
  let pcm: Buffer;
  try {
    pcm = await audio.cut(candidate);
  } catch (error) {
    if (error instanceof AudioMissingError) return { candidate, outcome: { kind: "missing", ranges: error.ranges } };
    throw error;
  }
  const samples = pcm16Samples(pcm);
  const signal = measureSignal(samples, conversation.sampleRate);
  if (signal.active_ratio < settings.minActiveSpeechRatio) {
    return { candidate, outcome: { kind: "no_speech", active_ratio: signal.active_ratio } };
  }
  let embedding: SpeakerEmbedding;
  try {
    embedding = await embedder.embed(samples, conversation.sampleRate);
  } catch (error) {
    if (error instanceof InsufficientSpeechError) {
      return { candidate, outcome: { kind: "no_speech", active_ratio: signal.active_ratio } };
    }
    if (error instanceof EmbeddingError)
      return { candidate, outcome: { kind: "embedding_failed", message: error.message } };
    throw error;
  }
  const score = qualityScore(candidate.quality, 2 * settings.windowHalfMs, signal);
  const sample: PersonSample = {
    uri: sampleUri(bucketName, conversation.userId, candidate.personId, candidate.sampleId),
    sample_id: candidate.sampleId,
    conversation_id: conversation.id,
    segment_ids: candidate.segmentIds,
    duration_ms: candidate.endMs - candidate.startMs,
    start_ms: candidate.startMs,
    end_ms: candidate.endMs,
    sample_rate: conversation.sampleRate,
    quality: { score, ...candidate.quality, ...signal },
    embedding: { model: embedding.model, dim: embedding.dim, vector: embedding.vector },
  };
  return { candidate, outcome: { kind: "ok", sample, wav: encodePcm16MonoWav(pcm, conversation.sampleRate) } };
}

/** Re-embeds kept samples of another model from their stored WAVs, so the profile mean uses one model. */
async function reembedStale(
  deps: ExtractionDeps,
  userId: string,
  personId: string,
  stored: readonly PersonSample[],
  model: string,
): Promise<Map<string, SpeakerEmbedding>> {
  const stale = stored.filter((s) => s.embedding?.model !== model);
  const fresh = new Map<string, SpeakerEmbedding>();
  await mapLimit(stale, deps.settings.concurrency, async (s) => {
    try {
      const [file] = await deps.bucket.file(sampleObjectName(userId, personId, s.sample_id)).download();
      const wav = decodePcm16MonoWav(file);
      const embedding = await deps.embedder.embed(pcm16Samples(wav.pcm), wav.sampleRate);
      if (embedding.model === model) fresh.set(s.sample_id, embedding);
    } catch (error) {
      deps.logger.warn(
        { err: error, person_id: personId, sample_id: s.sample_id },
        "could not re-embed a stored sample; the profile embedding leaves it out",
      );
    }
  });
  return fresh;
}

export async function extractConversation(
  deps: ExtractionDeps,
  bucketName: string,
  request: ExtractionRequest,
): Promise<ExtractionOutcome> {
  const { db, bucket, settings, logger } = deps;
  const conversation = await loadConversation(db, request.conversationId);
  if (conversation === undefined) return { kind: "conversation_not_found" };
  if (conversation.status !== "finalized" || conversation.finalPosition === null) {
    return { kind: "not_finalized", status: conversation.status };
  }
  if (conversation.answered) return { kind: "answered", generation: conversation.generation };
  const [segments, assignments] = await Promise.all([
    loadSegments(db, conversation.id),
    loadAssignments(db, conversation.id),
  ]);
  const timeline = buildTimeline(segments, assignments);
  if (timeline.unmatchedAssignments.length > 0) {
    logger.warn(
      { segment_ids: timeline.unmatchedAssignments.slice(0, 20) },
      "speaker assignments name segments this conversation does not have; they are ignored",
    );
  }
  const named = peopleInTimeline(timeline);
  const people = [...new Set([...named, ...conversation.previouslyExtracted])].sort();
  const durationMs = unitsToMilliseconds(conversation.codec, conversation.sampleRate, conversation.finalPosition);
  const profiles = await readProfiles(db, conversation.userId, people);
  const plans = people.map((personId) =>
    planPerson(
      personId,
      selectSamples(timeline, personId, conversation.id, durationMs, settings),
      profiles.get(personId),
      conversation,
      named.includes(personId),
      settings,
    ),
  );

  // Check the audio the windows need before reading any of it.
  const toCut = plans.flatMap((p) => p.toCut);
  const audio = await openWindowAudio(db, bucket, conversation, toCut);
  const missing = missingByPerson(toCut, (c) => audio.missing(c));
  const waiting = canStillWait(request, conversation.missingAudioWaits, settings);
  if (missing.size > 0 && waiting) {
    return await retryLater(deps, conversation, plans, missingAudioRetry(missing, request.deliveryAttempt));
  }

  const cuts = await mapLimit(toCut, settings.concurrency, (c) =>
    cutCandidate(deps, conversation, audio, bucketName, c),
  );
  const failedCut = failedCutRetry(cuts);
  if (failedCut !== undefined && waiting) return await retryLater(deps, conversation, plans, failedCut);

  const stats: ExtractionStats = {
    bytesRead: audio.stats.bytesRead,
    objectReads: audio.stats.objectReads,
    samplesWritten: 0,
    bytesWritten: 0,
    samplesDeleted: 0,
  };
  const okCuts = cuts.flatMap((c) =>
    c.outcome.kind === "ok" ? [{ personId: c.candidate.personId, ...c.outcome }] : [],
  );
  await mapLimit(okCuts, settings.concurrency, async ({ personId, sample, wav }) => {
    await bucket.file(sampleObjectName(conversation.userId, personId, sample.sample_id)).save(wav, {
      resumable: false,
      validation: "md5", // checked natively (store-chunk.ts)
      contentType: "audio/wav",
      metadata: { metadata: { conversation_id: conversation.id, person_id: personId, sample_id: sample.sample_id } },
    });
    stats.samplesWritten += 1;
    stats.bytesWritten += wav.length;
  });

  const outcomes: PersonExtraction[] = [];
  for (const plan of plans) {
    const mineCuts = cuts.filter((c) => c.candidate.personId === plan.personId);
    const added = mineCuts.flatMap((c) => (c.outcome.kind === "ok" ? [c.outcome.sample] : []));
    const { proposed, retires } = proposedSamples(plan, conversation.id);
    let merged: MergedProfile | undefined;
    if (added.length > 0 || retires) {
      const model = added[0]?.embedding?.model ?? null;
      try {
        merged = await commitProfile(
          db,
          {
            personId: plan.personId,
            userId: conversation.userId,
            conversationId: conversation.id,
            proposedIds: proposed,
            added,
            reembedded: model
              ? await reembedStale(deps, conversation.userId, plan.personId, plan.profile?.samples ?? [], model)
              : new Map(),
            maxSamples: settings.maxSamplesPerPerson,
            model,
          },
          { generation: conversation.generation },
        );
        stats.samplesDeleted += await deleteDroppedSamples(
          db,
          bucket,
          conversation.userId,
          plan.personId,
          merged.dropped,
        );
      } catch (error) {
        if (error instanceof StaleGenerationError) {
          logger.info({ extraction_generation: conversation.generation }, error.message);
          return { kind: "stale", generation: conversation.generation };
        }
        throw error;
      }
    }
    outcomes.push(outcomeFor(plan, conversation.id, mineCuts, merged?.samples, settings));
  }

  const status = await writeSummary(db, conversation.id, conversation.generation, outcomes);
  if (status === "stale") return { kind: "stale", generation: conversation.generation };
  for (const outcome of outcomes) logOutcome(logger, outcome);
  return { kind: "done", status, people: outcomes, stats };
}
