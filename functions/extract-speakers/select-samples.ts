/**
 * tether's speaker-sample selection rules: which stretches of a conversation become
 * samples of a person. Pure: timeline in, candidate windows (or an actionable reason) out.
 *
 * 1. Anchors are the segments named as the person (assignment, else the segment's own
 *    `person_id`), from every session of the conversation.
 * 2. An anchor of at least `minSegmentMs` (10 s) is a sample source by itself; a shorter one
 *    is extended, backwards and forwards, over adjacent segments of the same
 *    speaker (named as the person, or unnamed with a session label only ever named as the
 *    person) separated by at most `maxJoinGapMs`: a run of one speaker.
 * 3. Every other speaker's segment, widened by `overlapGuardMs`, is cut out of the run: a
 *    sample never contains a stretch where someone else speaks.
 * 4. In each clean stretch of at least `minSampleMs`, a window of the anchor's centre
 *    +/- `windowHalfMs` (shorter when the stretch is shorter), shifted to fit the stretch
 *    (to fit the anchor itself when it is at least `minSegmentMs` long).
 * 5. Candidates are ranked by `sample-quality.ts` (longest, then cleanest); at most
 *    `maxSamplesPerPerson` are proposed per conversation. The cap across conversations is
 *    applied when the person's profile is updated.
 *
 * Sample ids are derived from the conversation and the window, so re-running selection on
 * the same timeline proposes the same samples (idempotent writes downstream).
 */
import type { ExtractionSettings } from "../../shared/extraction-settings";
import { MARGIN_CAP_MS, qualityScore, type TimelineQuality } from "./sample-quality";
import { type Ownership, ownershipFor, type Timeline, type TimelineSegment } from "./speaker-timeline";

export type SelectionSettings = Pick<
  ExtractionSettings,
  "minSegmentMs" | "windowHalfMs" | "minSampleMs" | "maxJoinGapMs" | "overlapGuardMs" | "maxSamplesPerPerson"
>;

export interface Interval {
  readonly startMs: number;
  readonly endMs: number;
}

export interface SampleCandidate {
  readonly personId: string;
  readonly sampleId: string;
  readonly startMs: number;
  readonly endMs: number;
  /** The person's segments (named or same-speaker) the window overlaps, in time order. */
  readonly segmentIds: string[];
  readonly quality: TimelineQuality;
  /** Estimated score (active speech assumed), see sample-quality.ts. */
  readonly estimatedScore: number;
}

export type SkipReason = "too_short" | "overlapping_speech";

export type PersonSelection =
  | { readonly personId: string; readonly candidates: SampleCandidate[] }
  | {
      readonly personId: string;
      readonly candidates: [];
      readonly reason: SkipReason;
      readonly detail: Record<string, unknown>;
    };

/** `{conversation}_{startMs}_{endMs}`: stable for a window, readable in a bucket listing. */
export function sampleIdFor(conversationId: string, window: Interval): string {
  return `${conversationId}_${window.startMs}_${window.endMs}`;
}

/** `base` minus the union of `holes`, as sorted disjoint intervals. */
export function subtractIntervals(base: Interval, holes: readonly Interval[]): Interval[] {
  const sorted = holes
    .filter((h) => h.endMs > base.startMs && h.startMs < base.endMs)
    .sort((a, b) => a.startMs - b.startMs);
  const out: Interval[] = [];
  let cursor = base.startMs;
  for (const hole of sorted) {
    if (hole.startMs > cursor) out.push({ startMs: cursor, endMs: Math.min(hole.startMs, base.endMs) });
    cursor = Math.max(cursor, hole.endMs);
    if (cursor >= base.endMs) break;
  }
  if (cursor < base.endMs) out.push({ startMs: cursor, endMs: base.endMs });
  return out.filter((i) => i.endMs > i.startMs);
}

const length = (i: Interval): number => i.endMs - i.startMs;

function overlapMs(a: Interval, b: Interval): number {
  return Math.max(0, Math.min(a.endMs, b.endMs) - Math.max(a.startMs, b.startMs));
}

/** Total length of `window` covered by the union of `parts`. */
function coveredMs(window: Interval, parts: readonly Interval[]): number {
  const holes = subtractIntervals(window, parts);
  return length(window) - holes.reduce((sum, h) => sum + length(h), 0);
}

interface Run extends Interval {
  readonly segments: TimelineSegment[];
}

/** Step 2: the person's segments joined into runs of one speaker; only runs with an anchor count. */
function speakerRuns(
  own: readonly TimelineSegment[],
  ownership: (s: TimelineSegment) => Ownership,
  maxJoinGapMs: number,
): Run[] {
  const runs: Run[] = [];
  let current: { startMs: number; endMs: number; segments: TimelineSegment[] } | undefined;
  for (const segment of own) {
    if (current !== undefined && segment.startMs - current.endMs <= maxJoinGapMs) {
      current.endMs = Math.max(current.endMs, segment.endMs);
      current.segments.push(segment);
      continue;
    }
    if (current !== undefined) runs.push(current);
    current = { startMs: segment.startMs, endMs: segment.endMs, segments: [segment] };
  }
  if (current !== undefined) runs.push(current);
  return runs.filter((run) => run.segments.some((s) => ownership(s) === "anchor"));
}

/** Step 4: windows inside one clean stretch, one per anchor, never overlapping each other. */
function windowsIn(stretch: Interval, anchors: readonly TimelineSegment[], settings: SelectionSettings): Interval[] {
  const full = 2 * settings.windowHalfMs;
  const size = Math.min(full, length(stretch));
  const byLength = anchors
    .map((a) => ({ startMs: Math.max(a.startMs, stretch.startMs), endMs: Math.min(a.endMs, stretch.endMs) }))
    .filter((a) => a.endMs > a.startMs)
    .sort((a, b) => length(b) - length(a) || a.startMs - b.startMs);
  const windows: Interval[] = [];
  for (const anchor of byLength) {
    const centre = (anchor.startMs + anchor.endMs) / 2;
    // A long anchor holds its window by itself; a shorter one borrows from its run.
    const region = length(anchor) >= Math.max(settings.minSegmentMs, size) ? anchor : stretch;
    const startMs = Math.round(Math.min(Math.max(centre - size / 2, region.startMs), region.endMs - size));
    const window = { startMs, endMs: startMs + size };
    if (windows.some((w) => overlapMs(w, window) > 0)) continue;
    windows.push(window);
  }
  return windows;
}

function nearestOtherMs(window: Interval, others: readonly TimelineSegment[]): number {
  let nearest = MARGIN_CAP_MS;
  for (const o of others) {
    const distance =
      o.endMs <= window.startMs ? window.startMs - o.endMs : o.startMs >= window.endMs ? o.startMs - window.endMs : 0;
    nearest = Math.min(nearest, distance);
  }
  return nearest;
}

/**
 * Selects sample windows of `personId` in a conversation whose audio is `audioDurationMs`
 * long. Returns the best candidates first, or why there is none.
 */
export function selectSamples(
  timeline: Timeline,
  personId: string,
  conversationId: string,
  audioDurationMs: number,
  settings: SelectionSettings,
): PersonSelection {
  const ownership = ownershipFor(timeline, personId);
  const own = timeline.segments.filter((s) => ownership(s) !== "other" && s.endMs > s.startMs);
  const others = timeline.segments.filter((s) => ownership(s) === "other" && s.endMs > s.startMs);
  const anchors = own.filter((s) => ownership(s) === "anchor");
  const guarded = others.map((o) => ({
    startMs: o.startMs - settings.overlapGuardMs,
    endMs: o.endMs + settings.overlapGuardMs,
  }));
  const audio: Interval = { startMs: 0, endMs: Math.max(0, Math.floor(audioDurationMs)) };
  const fullWindow = 2 * settings.windowHalfMs;

  let longestRunMs = 0;
  let longestCleanMs = 0;
  const overlapping = new Set<string>();
  const candidates: SampleCandidate[] = [];
  for (const run of speakerRuns(own, ownership, settings.maxJoinGapMs)) {
    const span: Interval = { startMs: Math.max(run.startMs, audio.startMs), endMs: Math.min(run.endMs, audio.endMs) };
    if (span.endMs <= span.startMs) continue;
    longestRunMs = Math.max(longestRunMs, length(span));
    const clean = subtractIntervals(span, guarded);
    for (const o of others) if (overlapMs(o, span) > 0) overlapping.add(o.id);
    for (const stretch of clean) {
      longestCleanMs = Math.max(longestCleanMs, length(stretch));
      if (length(stretch) < settings.minSampleMs) continue;
      const runAnchors = run.segments.filter((s) => ownership(s) === "anchor");
      for (const window of windowsIn(stretch, runAnchors, settings)) {
        const inWindow = run.segments.filter((s) => overlapMs(s, window) > 0);
        const quality: TimelineQuality = {
          duration_ms: length(window),
          speech_coverage: coveredMs(window, inWindow) / length(window),
          assigned_coverage:
            coveredMs(
              window,
              inWindow.filter((s) => ownership(s) === "anchor"),
            ) / length(window),
          margin_ms: nearestOtherMs(window, others),
        };
        candidates.push({
          personId,
          sampleId: sampleIdFor(conversationId, window),
          startMs: window.startMs,
          endMs: window.endMs,
          segmentIds: inWindow.map((s) => s.id),
          quality,
          estimatedScore: qualityScore(quality, fullWindow),
        });
      }
    }
  }

  if (candidates.length === 0) {
    const longestAnchorMs = anchors.reduce(
      (m, a) => Math.max(m, Math.min(a.endMs, audio.endMs) - Math.max(a.startMs, 0)),
      0,
    );
    if (longestRunMs >= settings.minSampleMs) {
      return {
        personId,
        candidates: [],
        reason: "overlapping_speech",
        detail: {
          longest_clean_ms: longestCleanMs,
          required_ms: settings.minSampleMs,
          overlapping_segment_ids: [...overlapping].sort().slice(0, 20),
        },
      };
    }
    return {
      personId,
      candidates: [],
      reason: "too_short",
      detail: {
        longest_speech_ms: longestRunMs,
        longest_segment_ms: Math.max(0, longestAnchorMs),
        required_ms: settings.minSampleMs,
        segments: anchors.length,
      },
    };
  }
  candidates.sort((a, b) => b.estimatedScore - a.estimatedScore || a.startMs - b.startMs);
  return { personId, candidates: candidates.slice(0, settings.maxSamplesPerPerson) };
}
