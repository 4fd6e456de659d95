/**
 * The voice fixtures (test/fixtures/voices, made by scripts/make-voice-fixtures.sh) and the
 * verification metrics the embedding tests and the bench report over them.
 */
import fs from "node:fs";
import path from "node:path";
import { decodePcm16MonoWav } from "../../shared/wav";

export const VOICE_FIXTURE_DIR = path.join(__dirname, "..", "fixtures", "voices");

export interface VoiceFixture {
  /** e.g. `kal`, `slt`, `esp-gb-f3` */
  readonly voice: string;
  /** e.g. `kal_3` */
  readonly name: string;
  readonly sampleRate: number;
  /** Little-endian PCM16 mono bytes. */
  readonly pcm: Buffer;
}

export function loadVoiceFixtures(directory = VOICE_FIXTURE_DIR): VoiceFixture[] {
  const files = fs
    .readdirSync(directory)
    .filter((f) => f.endsWith(".wav"))
    .sort();
  if (files.length === 0) throw new Error(`no voice fixtures in ${directory}: run scripts/make-voice-fixtures.sh`);
  return files.map((file) => {
    const name = file.replace(/\.wav$/, "");
    const voice = name.replace(/_\d+$/, "");
    const { sampleRate, pcm } = decodePcm16MonoWav(fs.readFileSync(path.join(directory, file)));
    return { voice, name, sampleRate, pcm: Buffer.from(pcm) };
  });
}

export interface PairScore {
  readonly same: boolean;
  readonly score: number;
}

/** Scores every unordered pair of items: `same` when both come from the same voice. */
export function scorePairs<T>(
  items: readonly { voice: string; value: T }[],
  score: (a: T, b: T) => number,
): PairScore[] {
  const pairs: PairScore[] = [];
  for (let i = 0; i < items.length; i += 1) {
    for (let j = i + 1; j < items.length; j += 1) {
      const a = items[i] as { voice: string; value: T };
      const b = items[j] as { voice: string; value: T };
      pairs.push({ same: a.voice === b.voice, score: score(a.value, b.value) });
    }
  }
  return pairs;
}

/**
 * Equal error rate: the rate at the threshold where false accepts (different-voice pairs
 * scoring at or above it) equal false rejects (same-voice pairs below it). Higher scores
 * mean "more alike". Returns the mean of the two rates at the closest crossing.
 */
export function equalErrorRate(pairs: readonly PairScore[]): { eer: number; threshold: number } {
  const same = pairs.filter((p) => p.same).map((p) => p.score);
  const different = pairs.filter((p) => !p.same).map((p) => p.score);
  if (same.length === 0 || different.length === 0) throw new Error("need both same-voice and different-voice pairs");
  const thresholds = [...new Set(pairs.map((p) => p.score))].sort((a, b) => a - b);
  let best = { gap: Number.POSITIVE_INFINITY, eer: 1, threshold: 0 };
  for (const t of thresholds) {
    const falseReject = same.filter((s) => s < t).length / same.length;
    const falseAccept = different.filter((s) => s >= t).length / different.length;
    const gap = Math.abs(falseReject - falseAccept);
    if (gap < best.gap) best = { gap, eer: (falseReject + falseAccept) / 2, threshold: t };
  }
  return { eer: best.eer, threshold: best.threshold };
}
