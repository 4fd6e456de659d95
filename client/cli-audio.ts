/** What `npm run stream` sends: a WAV file, generated speech-like audio or the demo, cut into frames. */
import type { Codec, SampleRate } from "../shared/audio-format";
import { fail, type Options } from "./cli-options";
import { DEMO_SAMPLE_RATE, type DemoPlan } from "./demo-conversation";
import { loadDemoPlan } from "./demo-voices";
import { speechLikePcm } from "./speech-like";
import { readWavFile } from "./wav-file";

export interface Audio {
  readonly pcm: Buffer;
  readonly sampleRate: SampleRate;
  readonly source: string;
  /** The demo's segments and assignments, when streaming the demo. */
  readonly demo?: DemoPlan;
}

export function loadAudio(options: Options): Audio {
  if (options.demo) {
    if (options.file !== undefined || options.generate !== undefined)
      fail("--demo streams its own conversation: give no file and no --generate");
    if (options.codec !== "pcm16") fail("--demo streams pcm16: leave --codec out");
    let demo: DemoPlan;
    try {
      demo = loadDemoPlan();
    } catch (error) {
      fail((error as Error).message);
    }
    return {
      pcm: Buffer.from(demo.pcm.buffer, demo.pcm.byteOffset, demo.pcm.length),
      sampleRate: DEMO_SAMPLE_RATE,
      source: `the demo (${demo.seconds} s, two speakers)`,
      demo,
    };
  }
  if (options.file !== undefined && options.generate !== undefined) fail("give a file or --generate, not both");
  if (options.file !== undefined) {
    try {
      const wav = readWavFile(options.file);
      return { ...wav, source: options.file };
    } catch (error) {
      fail((error as Error).message);
    }
  }
  const seconds = options.generate ?? 20;
  const sampleRate = options["sample-rate"] as SampleRate;
  return { pcm: speechLikePcm(seconds, sampleRate), sampleRate, source: `${seconds} s of generated speech-like audio` };
}

/** Frames of `frameMs` each (pcm16 byte runs, or one Opus packet per 20 ms). */
export async function frames(
  pcm: Buffer,
  sampleRate: SampleRate,
  codec: Codec,
): Promise<{ frames: Buffer[]; frameMs: number }> {
  if (codec === "opus") {
    // Loaded only for Opus: libopus in wasm takes a second to load, before "connecting…".
    const { encodeOpusPackets, OPUS_FRAME_MS } = await import("./opus-encoder");
    return { frames: encodeOpusPackets(pcm, sampleRate), frameMs: OPUS_FRAME_MS };
  }
  const frameMs = 100;
  const bytes = ((sampleRate * frameMs) / 1000) * 2;
  const out: Buffer[] = [];
  for (let offset = 0; offset < pcm.length; offset += bytes) out.push(pcm.subarray(offset, offset + bytes));
  return { frames: out, frameMs };
}
