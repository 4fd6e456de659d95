/**
 * What the Record page streams from, checked before any socket opens: a WAV file (a file
 * that is not 16-bit PCM WAV, or holds no audio, is refused at once), and the demo's clips,
 * bundled by Vite from the voice fixtures the demo script names. And where unfinished
 * recordings are kept: one IndexedDB store per user, so nobody is offered another's.
 */
import { type ConversationStorage, indexedDbStore, readWav, type WavAudio, WavReadError } from "@tether/client";
import { DEMO_CLIPS, DEMO_SAMPLE_RATE, type DemoPlan, planDemo } from "../../client/demo-conversation";
import { secondsPerUnit } from "./record-view";
import { recordingsDatabase, tokenSubject } from "./recordings-database";

/** A chosen file the page will not stream, with the sentence that says why and what to do. */
export class UnusableFile extends Error {
  override name = "UnusableFile";
  constructor(
    message: string,
    readonly action: string,
  ) {
    super(message);
  }
}

/** Reads and checks a chosen WAV file. */
export async function checkWavFile(file: File): Promise<{ bytes: Uint8Array; wav: WavAudio; seconds: number }> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let wav: WavAudio;
  try {
    wav = readWav(bytes);
  } catch (error) {
    const why = error instanceof WavReadError ? error.message : String(error);
    throw new UnusableFile(
      `${file.name} cannot be streamed: ${why}.`,
      "Choose a 16-bit PCM WAV file (mono or stereo).",
    );
  }
  const seconds = wav.pcm16.length / (2 * wav.channels * wav.sampleRate);
  if (wav.pcm16.length === 0)
    throw new UnusableFile(`${file.name} holds no audio.`, "Choose a WAV file with sound in it.");
  return { bytes, wav, seconds };
}

const clipUrls = import.meta.glob<string>("../../test/fixtures/voices/{kal,slt}_*.wav", {
  query: "?url",
  import: "default",
  eager: true,
});

/** The demo conversation (client/demo-conversation.ts) with its clips fetched from the console's own assets. */
export async function loadDemo(): Promise<DemoPlan> {
  const clips = new Map<string, Uint8Array>();
  await Promise.all(
    DEMO_CLIPS.map(async (clip) => {
      const url = clipUrls[`../../test/fixtures/voices/${clip}.wav`];
      if (url === undefined) throw new Error(`the console was built without the demo clip ${clip}`);
      const response = await fetch(url);
      if (!response.ok) throw new Error(`the demo clip ${clip} answered HTTP ${response.status}`);
      const wav = readWav(new Uint8Array(await response.arrayBuffer()));
      if (wav.channels !== 1 || wav.sampleRate !== DEMO_SAMPLE_RATE)
        throw new Error(`the demo clip ${clip} is not mono ${DEMO_SAMPLE_RATE} Hz`);
      clips.set(clip, wav.pcm16);
    }),
  );
  return planDemo(clips);
}

/** The store of the token's user: another local user never sees these recordings. */
export async function recordingsStore(token: () => Promise<string>): Promise<ConversationStorage> {
  const user = tokenSubject(await token()) ?? "unknown";
  return indexedDbStore({ database: recordingsDatabase(user) });
}

/** A recording left unfinished in the store. */
export interface Unfinished {
  readonly id: string;
  /** Audio the server has not acknowledged, in seconds. */
  readonly awaitingSeconds: number;
}

/** The store's unfinished recordings on this ingress. */
export async function listUnfinished(storage: ConversationStorage, ingressUrl: string): Promise<Unfinished[]> {
  return (await storage.list())
    .filter((c) => c.meta.url === ingressUrl)
    .map((c) => {
      const end = c.audio.reduce(
        (e, a) => Math.max(e, a.start + (c.meta.codec === "pcm16" ? a.data.length : 1)),
        c.acked,
      );
      return {
        id: c.meta.conversationId ?? "(not started)",
        awaitingSeconds: (end - c.acked) * secondsPerUnit(c.meta.codec, c.meta.sampleRate),
      };
    });
}

/** The parts, one after another: what the page handed the SDK, to hash. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const all = new Uint8Array(parts.reduce((n, b) => n + b.length, 0));
  let offset = 0;
  for (const b of parts) {
    all.set(b, offset);
    offset += b.length;
  }
  return all;
}
