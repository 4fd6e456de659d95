/**
 * The demo's clips in Node: the voice fixtures the extraction tests use
 * (test/fixtures/voices, made by scripts/make-voice-fixtures.sh), read from the checkout.
 */
import fs from "node:fs";
import path from "node:path";
import { decodePcm16MonoWav } from "../shared/wav";
import { DEMO_CLIPS, DEMO_SAMPLE_RATE, type DemoPlan, planDemo } from "./demo-conversation";

export const VOICES_DIR = path.resolve(__dirname, "..", "test", "fixtures", "voices");

export function loadDemoPlan(directory = VOICES_DIR): DemoPlan {
  const clips = new Map<string, Uint8Array>();
  for (const clip of DEMO_CLIPS) {
    const file = path.join(directory, `${clip}.wav`);
    if (!fs.existsSync(file))
      throw new Error(`the demo's voice clip ${file} is missing (scripts/make-voice-fixtures.sh makes it)`);
    const wav = decodePcm16MonoWav(fs.readFileSync(file));
    if (wav.sampleRate !== DEMO_SAMPLE_RATE)
      throw new Error(`${file} is ${wav.sampleRate} Hz, not ${DEMO_SAMPLE_RATE} Hz`);
    clips.set(clip, wav.pcm);
  }
  return planDemo(clips);
}
