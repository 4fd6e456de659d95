/**
 * The outcome of extraction per person, as the conversation document records it and the
 * API serves it: `extracted`, or `skipped` / `failed` with a reason a person can act on.
 * Every skipped or failed person is also a log line (WARNING / ERROR) carrying the
 * conversation id and environment, so nothing is skipped silently.
 */
import { FieldValue, type Firestore } from "@google-cloud/firestore";
import { conversationRef, type PersonExtraction, readConversation } from "../../shared/firestore-schema";
import { mayRecordExtraction } from "../../shared/lifecycle";
import type { Logger } from "../../shared/logger";
import { untilUnchanged } from "../conditional-write";

/** Reasons, and what a person can do about each. */
export const REASONS = {
  /** Not enough continuous speech: assign more (or longer) segments of this person. */
  too_short: "skipped",
  /** Long enough, but someone else talks over every long stretch. */
  overlapping_speech: "skipped",
  /** The person already has the maximum of better samples. */
  sample_limit_reached: "skipped",
  /** The windows were cut but hold (almost) no speech: check the segment times. */
  no_speech_in_audio: "skipped",
  /** The person has no segment in this conversation any more (re-assigned). */
  no_segments: "skipped",
  /** Chunks of the conversation are not stored (detail names the ranges). */
  audio_missing: "failed",
  /** The embedding service failed (detail has its error). */
  embedding_failed: "failed",
} as const;

export type Reason = keyof typeof REASONS;

export function extracted(personId: string, samples: number, detail?: Record<string, unknown>): PersonExtraction {
  return { person_id: personId, status: "extracted", samples, ...(detail ? { detail } : {}) };
}

export function notExtracted(
  personId: string,
  reason: Reason,
  detail: Record<string, unknown>,
  samples = 0,
): PersonExtraction {
  return { person_id: personId, status: REASONS[reason], reason, detail, samples };
}

/** While audio may still be in flight: the request will be retried. */
export function pending(personId: string, reason: Reason, detail: Record<string, unknown>): PersonExtraction {
  return { person_id: personId, status: "pending", reason, detail, samples: 0 };
}

export function summaryStatus(people: readonly PersonExtraction[]): "pending" | "done" | "failed" {
  if (people.some((p) => p.status === "pending")) return "pending";
  return people.some((p) => p.status === "failed") ? "failed" : "done";
}

/**
 * Writes the conversation's extraction summary for `generation` (replacing the previous
 * run's), only if that generation is still the newest (shared/lifecycle.ts): an older run
 * that finishes last writes nothing and hears `stale`.
 *
 * A conditional write (../conditional-write.ts), not a transaction: the record is read, and
 * the summary written on the condition that the record did not change since, else it is
 * read again.
 */
export async function writeSummary(
  db: Firestore,
  conversationId: string,
  generation: number,
  people: readonly PersonExtraction[],
  missingAudioWaits?: number,
): Promise<"pending" | "done" | "failed" | "stale"> {
  const status = summaryStatus(people);
  const sorted = [...people].sort((a, b) => (a.person_id < b.person_id ? -1 : a.person_id > b.person_id ? 1 : 0));
  const ref = conversationRef(db, conversationId);
  return await untilUnchanged(`the extraction summary of conversation ${conversationId}`, async () => {
    const read = await readConversation(db, conversationId);
    if (read === undefined || !mayRecordExtraction(read.data, generation)) return "stale";
    await ref.update(
      {
        extraction: {
          status,
          generation,
          people: sorted,
          updated_at: FieldValue.serverTimestamp(),
          ...(missingAudioWaits !== undefined ? { missing_audio_waits: missingAudioWaits } : {}),
        },
      },
      { lastUpdateTime: read.updateTime },
    );
    return status;
  });
}

/** One log line per person outcome; skipped -> WARNING, failed -> ERROR. */
export function logOutcome(logger: Logger, outcome: PersonExtraction): void {
  const fields = {
    person_id: outcome.person_id,
    extraction_status: outcome.status,
    reason: outcome.reason,
    detail: outcome.detail,
    samples: outcome.samples,
  };
  switch (outcome.status) {
    case "failed":
      logger.error(fields, `speaker extraction failed for ${outcome.person_id}: ${outcome.reason}`);
      return;
    case "skipped":
      logger.warn(fields, `speaker extraction skipped ${outcome.person_id}: ${outcome.reason}`);
      return;
    case "pending":
      logger.warn(fields, `speaker extraction waiting for ${outcome.person_id}: ${outcome.reason}; will retry`);
      return;
    default:
      logger.info(fields, `speaker samples extracted for ${outcome.person_id}`);
  }
}
