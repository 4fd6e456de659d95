/**
 * One timeline of a conversation's segments, from every socket session, with the person
 * each segment belongs to: an assignment naming the segment wins over the segment's own
 * `person_id` (a later `speaker_assigned` may correct what the transcriber said).
 *
 * Segment times are seconds from position 0 of the conversation's audio, so segments of
 * different sessions share one time axis; diarization labels (`SPEAKER_01`) do not, because
 * each session's transcriber numbers its speakers afresh. Labels are therefore only ever
 * compared within one session.
 */

export interface SegmentInput {
  readonly id: string;
  /** Seconds from the start of the conversation's audio. */
  readonly start: number;
  readonly end: number;
  /** The transcriber's label; null when it gave none. */
  readonly speaker: string | null;
  readonly is_user: boolean;
  readonly person_id: string | null;
  readonly session_id: string;
}

export interface AssignmentInput {
  readonly segment_id: string;
  readonly person_id: string;
}

export interface TimelineSegment {
  readonly id: string;
  readonly startMs: number;
  readonly endMs: number;
  /** The transcriber's label, "" when it gave none. */
  readonly speaker: string;
  readonly sessionId: string;
  readonly isUser: boolean;
  /** The person after assignments, or null when nobody was named. */
  readonly personId: string | null;
}

export interface Timeline {
  /** Sorted by start, then end, then id. */
  readonly segments: readonly TimelineSegment[];
  /** Assignments naming a segment the conversation does not have (yet). */
  readonly unmatchedAssignments: readonly string[];
}

export function buildTimeline(segments: readonly SegmentInput[], assignments: readonly AssignmentInput[]): Timeline {
  const assigned = new Map(assignments.map((a) => [a.segment_id, a.person_id]));
  const known = new Set(segments.map((s) => s.id));
  const timeline = segments
    .map(
      (s): TimelineSegment => ({
        id: s.id,
        startMs: Math.round(s.start * 1000),
        endMs: Math.round(s.end * 1000),
        speaker: s.speaker ?? "",
        sessionId: s.session_id,
        isUser: s.is_user,
        personId: assigned.get(s.id) ?? s.person_id,
      }),
    )
    .sort((a, b) => a.startMs - b.startMs || a.endMs - b.endMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const unmatchedAssignments = [...assigned.keys()].filter((id) => !known.has(id)).sort();
  return { segments: timeline, unmatchedAssignments };
}

/** Every person named in the timeline, sorted. */
export function peopleInTimeline(timeline: Timeline): string[] {
  return [...new Set(timeline.segments.flatMap((s) => (s.personId === null ? [] : [s.personId])))].sort();
}

/** How a segment relates to one person. */
export type Ownership =
  /** Named as the person's (by assignment or its own `person_id`). */
  | "anchor"
  /** Unnamed, but its session's label is only ever named as this person. */
  | "same_speaker"
  /** Anyone else, including unnamed speakers nobody identified. */
  | "other";

const labelKey = (s: TimelineSegment): string => `${s.sessionId}\u0000${s.speaker}`;

/** Classifies every segment of the timeline relative to `personId`. */
export function ownershipFor(timeline: Timeline, personId: string): (segment: TimelineSegment) => Ownership {
  const namedAs = new Map<string, Set<string>>();
  for (const s of timeline.segments) {
    if (s.personId === null || s.speaker === "") continue;
    const people = namedAs.get(labelKey(s)) ?? new Set<string>();
    people.add(s.personId);
    namedAs.set(labelKey(s), people);
  }
  return (segment) => {
    if (segment.personId === personId) return "anchor";
    if (segment.personId !== null || segment.speaker === "") return "other";
    const people = namedAs.get(labelKey(segment));
    return people !== undefined && people.size === 1 && people.has(personId) ? "same_speaker" : "other";
  };
}
