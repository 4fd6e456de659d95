/**
 * The decisions of one extraction run, as pure functions of what it loaded and what its cuts
 * gave (extract-conversation.ts does the reading and writing around them):
 *
 *   plan    per person: an early outcome (no segments left, too little speech) or the
 *           candidates worth reading audio for
 *   wait    whether this delivery may still wait for audio in flight (canStillWait), and
 *           the pending summary a waiting run records (missing audio, or a failed cut)
 *   profile which samples the run proposes for a person, and whether it retires any
 *   outcome the person's extraction status once the cuts are done
 */
import type { ExtractionSettings } from "../../shared/extraction-settings";
import type { PersonExtraction, PersonSample } from "../../shared/firestore-schema";
import { competeForSlots, type PersonProfile } from "../person-profile";
import type { ConversationState } from "./conversation-state";
import type { PersonSelection, SampleCandidate } from "./select-samples";
import { extracted, notExtracted, pending } from "./status";
import type { MissingRange } from "./window-audio";

/** When and how the request was delivered. */
export interface Delivery {
  /** Pub/Sub delivery attempt (1 on first delivery), when the subscription reports it. */
  readonly deliveryAttempt: number | undefined;
  readonly publishedAt: Date | undefined;
  readonly now: Date;
}

/** One person's work in this run. */
export interface PersonPlan {
  readonly personId: string;
  readonly selection: PersonSelection;
  readonly profile: PersonProfile | undefined;
  /** Candidates worth reading audio for. */
  readonly toCut: SampleCandidate[];
  readonly lowestKeptScore: number | null;
  /** Set when the plan ends before any audio is read. */
  readonly early?: PersonExtraction;
}

/** What cutting, measuring and embedding one candidate gave. */
export interface CutResult {
  readonly candidate: SampleCandidate;
  readonly outcome:
    | { kind: "ok"; sample: PersonSample; wav: Buffer }
    | { kind: "no_speech"; active_ratio: number }
    | { kind: "missing"; ranges: MissingRange[] }
    | { kind: "embedding_failed"; message: string };
}

/** A run that stops to be redelivered: the summary it records, the lines it logs, and why. */
export interface RetryPlan {
  /** The people the run waits for, as the summary records them (everyone else is plain `pending`). */
  readonly waitingFor: readonly PersonExtraction[];
  /** One log line each. */
  readonly logged: readonly PersonExtraction[];
  readonly reason: "audio_missing" | "embedding_failed";
  readonly detail: string;
}

/**
 * Whether this delivery may still wait for missing audio. Three bounds, the first reached
 * wins: the delivery count (pull subscriptions report it; push deliveries through the
 * functions framework do not), the deliveries counted on the conversation, and the time
 * since the request was published. With `missingAudioAttempts` at most the subscription's
 * dead-letter count, the last delivery always reports instead of waiting.
 */
export function canStillWait(
  delivery: Delivery,
  waitedBefore: number,
  settings: Pick<ExtractionSettings, "missingAudioAttempts" | "missingAudioWaitMs">,
): boolean {
  if (waitedBefore + 1 >= settings.missingAudioAttempts) return false;
  if (delivery.deliveryAttempt !== undefined && delivery.deliveryAttempt >= settings.missingAudioAttempts) return false;
  if (delivery.publishedAt === undefined) return false;
  return delivery.now.getTime() - delivery.publishedAt.getTime() < settings.missingAudioWaitMs;
}

/** What this run does for one person, before any audio is read. */
export function planPerson(
  personId: string,
  selection: PersonSelection,
  profile: PersonProfile | undefined,
  conversation: Pick<ConversationState, "id">,
  named: boolean,
  settings: Pick<ExtractionSettings, "maxSamplesPerPerson">,
): PersonPlan {
  const base = { personId, selection, profile, toCut: [], lowestKeptScore: null };
  if (!named) {
    return { ...base, early: notExtracted(personId, "no_segments", { previous_samples_retired: true }) };
  }
  if ("reason" in selection) {
    return { ...base, early: notExtracted(personId, selection.reason, selection.detail) };
  }
  const competition = competeForSlots(
    profile?.samples ?? [],
    conversation.id,
    selection.candidates,
    settings.maxSamplesPerPerson,
  );
  const worth = new Set(competition.worthCutting);
  return {
    ...base,
    toCut: selection.candidates.filter((c) => worth.has(c.sampleId)),
    lowestKeptScore: competition.lowestKeptScore,
  };
}

/** The missing ranges of each person's windows, each range once per person, people in window order. */
export function missingByPerson(
  windows: readonly SampleCandidate[],
  missing: (window: SampleCandidate) => MissingRange[],
): Map<string, MissingRange[]> {
  const byPerson = new Map<string, MissingRange[]>();
  for (const c of windows) {
    const ranges = missing(c);
    const known = byPerson.get(c.personId) ?? [];
    const fresh = ranges.filter((r) => !known.some((k) => JSON.stringify(k) === JSON.stringify(r)));
    if (ranges.length > 0) byPerson.set(c.personId, [...known, ...fresh]);
  }
  return byPerson;
}

/** Waiting for audio not yet stored: every person with missing ranges. */
export function missingAudioRetry(
  missing: ReadonlyMap<string, MissingRange[]>,
  deliveryAttempt: number | undefined,
): RetryPlan {
  const people = [...missing];
  return {
    waitingFor: people.map(([personId, ranges]) => pending(personId, "audio_missing", { missing_ranges: ranges })),
    logged: people.map(([personId, ranges]) =>
      pending(personId, "audio_missing", { missing_ranges: ranges, delivery_attempt: deliveryAttempt }),
    ),
    reason: "audio_missing",
    detail: `audio missing for ${people.map(([personId]) => personId).join(", ")}`,
  };
}

/** Waiting after a cut that may succeed later (its audio vanished, or the embedding failed): the first such cut. */
export function failedCutRetry(cuts: readonly CutResult[]): RetryPlan | undefined {
  for (const { candidate, outcome } of cuts) {
    if (outcome.kind !== "missing" && outcome.kind !== "embedding_failed") continue;
    const reason = outcome.kind === "missing" ? "audio_missing" : "embedding_failed";
    const detail = outcome.kind === "missing" ? { missing_ranges: outcome.ranges } : { error: outcome.message };
    const waitingFor = pending(candidate.personId, reason, detail);
    return {
      waitingFor: [waitingFor],
      logged: [waitingFor],
      reason,
      detail: `${reason} for sample ${candidate.sampleId}`,
    };
  }
  return undefined;
}

/** The summary a waiting run records: the people it waits for as such, everyone else plain `pending`. */
export function pendingSummary(
  plans: readonly PersonPlan[],
  waitingFor: readonly PersonExtraction[],
): PersonExtraction[] {
  return plans.map(
    (p) =>
      waitingFor.find((w) => w.person_id === p.personId) ?? { person_id: p.personId, status: "pending", samples: 0 },
  );
}

/**
 * The sample ids this run proposes for the person (its selection's candidates, none when it
 * ended early), and whether a stored sample of this conversation is not among them (the
 * profile must then retire it).
 */
export function proposedSamples(
  plan: PersonPlan,
  conversationId: string,
): { readonly proposed: Set<string>; readonly retires: boolean } {
  const proposed = new Set(
    "reason" in plan.selection || plan.early ? [] : plan.selection.candidates.map((c) => c.sampleId),
  );
  const retires = (plan.profile?.samples ?? []).some(
    (s) => s.conversation_id === conversationId && !proposed.has(s.sample_id),
  );
  return { proposed, retires };
}

/** The person's extraction status once the cuts are done and `kept` is the profile's samples. */
export function outcomeFor(
  plan: PersonPlan,
  conversationId: string,
  cuts: readonly CutResult[],
  kept: readonly PersonSample[] | undefined,
  settings: Pick<ExtractionSettings, "maxSamplesPerPerson">,
): PersonExtraction {
  if (plan.early) return plan.early;
  const mine = (kept ?? plan.profile?.samples ?? []).filter((s) => s.conversation_id === conversationId);
  // Two windows of one person may share a missing chunk: report each range once.
  const missing = [
    ...new Map(
      cuts.flatMap((c) => (c.outcome.kind === "missing" ? c.outcome.ranges : [])).map((r) => [JSON.stringify(r), r]),
    ).values(),
  ];
  const failedEmbeddings = cuts.flatMap((c) => (c.outcome.kind === "embedding_failed" ? [c.outcome.message] : []));
  const silent = cuts.filter((c) => c.outcome.kind === "no_speech").map((c) => c.candidate.sampleId);
  if (mine.length > 0) {
    return extracted(plan.personId, mine.length, {
      sample_ids: mine.map((s) => s.sample_id),
      ...(missing.length > 0 ? { missing_ranges: missing } : {}),
      ...(silent.length > 0 ? { silent_windows: silent } : {}),
    });
  }
  if (missing.length > 0) return notExtracted(plan.personId, "audio_missing", { missing_ranges: missing });
  if (failedEmbeddings.length > 0)
    return notExtracted(plan.personId, "embedding_failed", { error: failedEmbeddings[0] });
  if (silent.length > 0) return notExtracted(plan.personId, "no_speech_in_audio", { silent_windows: silent });
  const best = "reason" in plan.selection ? undefined : plan.selection.candidates[0];
  return notExtracted(plan.personId, "sample_limit_reached", {
    max_samples: settings.maxSamplesPerPerson,
    lowest_kept_score: plan.lowestKeptScore,
    best_candidate_score: best?.estimatedScore ?? null,
  });
}
