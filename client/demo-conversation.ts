/**
 * The demo conversation, one script for `npm run stream -- --demo` and the console's Demo
 * button: two synthetic voices (the voice fixtures, test/fixtures/voices: 16 kHz mono, 3 s
 * each) take turns; each line's transcript segment is sent as soon as its audio is written,
 * the way a live transcriber would, and each turn is assigned to its person when it ends.
 * Each speaker's first turn is 9 s of clean speech, more than extraction's 8 s minimum
 * sample, so both people get real samples on the first run.
 *
 * Imports only types: Node and the browser build both run it, each loading the clips its own way.
 */
import type { Segment } from "../shared/messages";

export const DEMO_SAMPLE_RATE = 16000;
/** The demo streams faster than real time: its 25 s take about 6 s. */
export const DEMO_SPEED = 4;

export interface DemoLine {
  /** Voice fixture name, e.g. `kal_1` (the file `kal_1.wav`). */
  readonly clip: string;
  readonly speaker: string;
  readonly personId: string;
  readonly text: string;
}

const ALAN = { speaker: "SPEAKER_00", personId: "demo-alan" } as const;
const SARA = { speaker: "SPEAKER_01", personId: "demo-sara" } as const;

/** The sentences the fixtures speak (scripts/make-voice-fixtures.sh), by number. */
const SENTENCES = [
  "Please call Stella and ask her to bring these things with her from the store.",
  "The morning train was late again, so we walked along the river to the office.",
  "I think the meeting went well, but we still need a budget for next quarter.",
  "Could you read the last number back to me, slowly, one digit at a time?",
] as const;

const line = (who: typeof ALAN | typeof SARA, voice: string, n: 1 | 2 | 3 | 4): DemoLine => ({
  clip: `${voice}_${n}`,
  ...who,
  text: SENTENCES[n - 1] as string,
});

/** Turns of one speaker each, in order. */
export const DEMO_TURNS: readonly (readonly DemoLine[])[] = [
  [line(ALAN, "kal", 1), line(ALAN, "kal", 2), line(ALAN, "kal", 3)],
  [line(SARA, "slt", 3), line(SARA, "slt", 1), line(SARA, "slt", 2)],
  [line(ALAN, "kal", 4)],
  [line(SARA, "slt", 4)],
];

/** Every clip the demo needs. */
export const DEMO_CLIPS: readonly string[] = [...new Set(DEMO_TURNS.flat().map((l) => l.clip))];

/** Silence between turns, in samples (300 ms: more than extraction's 200 ms guard). */
const TURN_GAP_SAMPLES = (DEMO_SAMPLE_RATE * 3) / 10;

/** The text messages due once `endByte` bytes of the demo's audio are written. */
export interface DemoCue {
  readonly endByte: number;
  readonly segment: Segment;
  /** Set on a turn's last line: its person and the turn's segments. */
  readonly assign?: { readonly personId: string; readonly segmentIds: readonly string[] };
}

export interface DemoPlan {
  /** The whole conversation, pcm16 little-endian mono at DEMO_SAMPLE_RATE. */
  readonly pcm: Uint8Array;
  readonly cues: readonly DemoCue[];
  readonly seconds: number;
}

/** Lays the clips (pcm16 mono at DEMO_SAMPLE_RATE, by name) out as one conversation. Pure. */
export function planDemo(clips: ReadonlyMap<string, Uint8Array>): DemoPlan {
  const parts: Uint8Array[] = [];
  const cues: DemoCue[] = [];
  let bytes = 0;
  const seconds = (b: number) => Math.round((b / 2 / DEMO_SAMPLE_RATE) * 1000) / 1000;
  DEMO_TURNS.forEach((turn, t) => {
    if (t > 0) {
      parts.push(new Uint8Array(TURN_GAP_SAMPLES * 2));
      bytes += TURN_GAP_SAMPLES * 2;
    }
    const ids: string[] = [];
    turn.forEach((l, i) => {
      const clip = clips.get(l.clip);
      if (clip === undefined) throw new Error(`the demo needs the voice clip ${l.clip}`);
      const pcm = clip.subarray(0, clip.length - (clip.length % 2));
      const id = `demo-${t + 1}-${i + 1}`;
      ids.push(id);
      const start = bytes;
      parts.push(pcm);
      bytes += pcm.length;
      cues.push({
        endByte: bytes,
        segment: {
          id,
          start: seconds(start),
          end: seconds(bytes),
          text: l.text,
          speaker: l.speaker,
          is_user: false,
          person_id: null,
        },
        ...(i === turn.length - 1 ? { assign: { personId: l.personId, segmentIds: [...ids] } } : {}),
      });
    });
  });
  const pcm = new Uint8Array(bytes);
  let offset = 0;
  for (const part of parts) {
    pcm.set(part, offset);
    offset += part.length;
  }
  return { pcm, cues, seconds: seconds(bytes) };
}

/** What the demo drives: a `TetherSession` (Node or browser), or a wrapper of one. */
export interface DemoSession {
  write(audio: Uint8Array): Promise<void>;
  sendSegments(segments: readonly Segment[]): void;
  assignSpeaker(personId: string, segmentIds: readonly string[]): void;
}

export interface DemoOptions {
  /** 1 = real time; 0 = as fast as the session takes it. Default DEMO_SPEED. */
  readonly speed?: number;
  /** Bytes of the demo already written (a resumed run): its cues are sent again (idempotent), the audio is not. */
  readonly from?: number;
  readonly signal?: AbortSignal;
  /** Seconds written so far, of the whole. */
  readonly onProgress?: (seconds: number, totalSeconds: number) => void;
}

/** 100 ms frames. */
const FRAME_BYTES = (DEMO_SAMPLE_RATE / 10) * 2;

/** Streams the plan into `session`, paced, with each cue once its audio is written. */
export async function playDemo(session: DemoSession, plan: DemoPlan, options: DemoOptions = {}): Promise<void> {
  const speed = options.speed ?? DEMO_SPEED;
  const from = options.from ?? 0;
  let next = 0;
  const sendCuesUpTo = (written: number) => {
    for (; next < plan.cues.length && (plan.cues[next] as DemoCue).endByte <= written; next += 1) {
      const cue = plan.cues[next] as DemoCue;
      session.sendSegments([cue.segment]);
      if (cue.assign) session.assignSpeaker(cue.assign.personId, cue.assign.segmentIds);
    }
  };
  sendCuesUpTo(from);
  const started = Date.now();
  for (let offset = from; offset < plan.pcm.length; offset += FRAME_BYTES) {
    if (options.signal?.aborted) return;
    const end = Math.min(offset + FRAME_BYTES, plan.pcm.length);
    await session.write(plan.pcm.subarray(offset, end));
    sendCuesUpTo(end);
    options.onProgress?.(end / 2 / DEMO_SAMPLE_RATE, plan.seconds);
    if (speed > 0) {
      const wait = started + ((end - from) / 2 / DEMO_SAMPLE_RATE / speed) * 1000 - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}
