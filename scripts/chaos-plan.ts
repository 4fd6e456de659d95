/**
 * The random side of `npm run chaos` (scripts/chaos.ts), as pure functions of a seed: the
 * plan of each conversation (its environment, audio, frame sizes,
 * disconnect points, segments, speaker assignments). Every random choice of a run comes
 * from the one `--seed`, so a failing run can be replayed with the same plans and faults
 * (the timing of the machine still varies, the choices do not).
 */
import { integerBetween, pick, streamOf } from "../local/seeded-random";
import type { Segment } from "../shared/messages";

export const SAMPLE_RATE = 16000;
export const BYTES_PER_SECOND = SAMPLE_RATE * 2;

/** Something the conversation does before writing frame `beforeFrame`. */
export type PlannedAction =
  | { readonly kind: "segments"; readonly beforeFrame: number; readonly segments: readonly Segment[] }
  | { readonly kind: "assign"; readonly beforeFrame: number; readonly personId: string; readonly segmentIds: string[] }
  | { readonly kind: "disconnect"; readonly beforeFrame: number };

export interface ConversationPlan {
  readonly index: number;
  readonly environment: string;
  /** Seed of the synthetic voice (client/speech-like.ts). */
  readonly voiceSeed: number;
  /** Frame sizes in bytes (even, varied, so disconnects fall anywhere in a chunk); their sum is the audio. */
  readonly frames: readonly number[];
  /** Delay before each frame, ms: real time for its duration, scaled by `pace`. */
  readonly pace: number;
  readonly actions: readonly PlannedAction[];
}

export interface PlanOptions {
  readonly environments: readonly string[];
  readonly minSeconds: number;
  readonly maxSeconds: number;
  /** Disconnects per conversation, at most. */
  readonly maxDisconnects: number;
}

/** The plan of conversation `index` of a run with `seed`. Pure. */
export function planConversation(seed: number, index: number, options: PlanOptions): ConversationPlan {
  const random = streamOf(seed, 1000 + index);
  const environment = pick(random, options.environments);
  const seconds = options.minSeconds + random() * (options.maxSeconds - options.minSeconds);
  const total = 2 * Math.floor((seconds * BYTES_PER_SECOND) / 2);
  const frames: number[] = [];
  for (let written = 0; written < total; ) {
    // 20 ms to 300 ms of audio per frame, an even number of bytes.
    const size = Math.min(total - written, 2 * integerBetween(random, 320, 4800));
    frames.push(size);
    written += size;
  }
  const actions: PlannedAction[] = [];
  const frameAt = () => integerBetween(random, 0, frames.length - 1);

  const speakers = integerBetween(random, 1, 3);
  const segmentCount = integerBetween(random, 1, 5);
  const sent: Segment[] = [];
  for (let s = 0; s < segmentCount; s += 1) {
    const start = Math.round(random() * seconds * 0.8 * 100) / 100;
    const end = Math.min(Math.round(seconds * 100) / 100, Math.round((start + 1 + random() * 4) * 100) / 100);
    const speaker = integerBetween(random, 0, speakers - 1);
    const segment: Segment = {
      id: `c${index}-s${s}`,
      start,
      end: Math.max(end, start + 0.1),
      text: `segment ${s} of conversation ${index}`,
      speaker: `SPEAKER_0${speaker}`,
      is_user: speaker === 0,
      person_id: random() < 0.3 ? `p${index}-${speaker}` : null,
    };
    sent.push(segment);
    actions.push({ kind: "segments", beforeFrame: frameAt(), segments: [segment] });
    if (random() < 0.25) {
      // A revision of the same segment later on: the newest text must win.
      actions.push({
        kind: "segments",
        beforeFrame: frameAt(),
        segments: [{ ...segment, text: `${segment.text}, revised` }],
      });
    }
  }
  const assignments = integerBetween(random, 0, 3);
  for (let a = 0; a < assignments; a += 1) {
    const chosen = sent.filter(() => random() < 0.5);
    const ids = (chosen.length > 0 ? chosen : sent.slice(0, 1)).map((s) => s.id);
    actions.push({
      kind: "assign",
      beforeFrame: frameAt(),
      personId: `p${index}-a${integerBetween(random, 0, 1)}`,
      segmentIds: ids,
    });
  }
  const disconnects = integerBetween(random, 0, options.maxDisconnects);
  for (let d = 0; d < disconnects; d += 1) actions.push({ kind: "disconnect", beforeFrame: frameAt() });

  // Stable order: by frame, then as planned (a revision may land before its original: that is a test too).
  const ordered = actions.map((a, i) => ({ a, i })).sort((x, y) => x.a.beforeFrame - y.a.beforeFrame || x.i - y.i);
  return {
    index,
    environment,
    voiceSeed: integerBetween(random, 1, 1_000_000),
    frames,
    pace: 0.5 + random(),
    actions: ordered.map((o) => o.a),
  };
}

/** A text message as the client sent it. */
export type SentText =
  | { readonly kind: "segments"; readonly segments: readonly Segment[] }
  | { readonly kind: "assign"; readonly personId: string; readonly segmentIds: readonly string[] };

/**
 * What the server must end up with for the segments a plan sends, in the order the client
 * sent them: each id's last revision, and its person: the last assignment naming it, else
 * the person the segment carried. Assignments only name segments already sent.
 */
export function expectedSegments(
  sentInOrder: readonly SentText[],
): Map<string, { text: string; personId: string | null }> {
  const out = new Map<string, { text: string; personId: string | null }>();
  const assigned = new Map<string, string>();
  for (const action of sentInOrder) {
    if (action.kind === "segments") {
      for (const s of action.segments) out.set(s.id, { text: s.text, personId: s.person_id });
    } else {
      for (const id of action.segmentIds) assigned.set(id, action.personId);
    }
  }
  for (const [id, personId] of assigned) {
    const segment = out.get(id);
    if (segment) out.set(id, { ...segment, personId });
  }
  return out;
}
