/**
 * Generated speech-like audio for demos and load tests when no recording is at hand:
 * voiced "syllables" (a gliding fundamental with formant-like harmonics under a syllable
 * envelope) separated by short pauses, with a little noise. Deterministic for a seed.
 */

/** PCM16 little-endian mono samples, `seconds` long at `sampleRate`. */
export function speechLikePcm(seconds: number, sampleRate: number, seed = 1): Buffer {
  const total = Math.round(seconds * sampleRate);
  const out = Buffer.alloc(total * 2);
  let state = seed >>> 0 || 1;
  const random = () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  let phase = 0;
  let sample = 0;
  while (sample < total) {
    // One syllable (120-320 ms) then a pause (40-200 ms).
    const syllable = Math.round((0.12 + 0.2 * random()) * sampleRate);
    const pause = Math.round((0.04 + 0.16 * random()) * sampleRate);
    const pitchStart = 100 + 120 * random();
    const pitchEnd = pitchStart * (0.8 + 0.4 * random());
    const formants = [500 + 400 * random(), 1200 + 900 * random(), 2500 + 500 * random()];
    for (let i = 0; i < syllable && sample < total; i += 1, sample += 1) {
      const t = i / syllable;
      const pitch = pitchStart + (pitchEnd - pitchStart) * t;
      phase += (2 * Math.PI * pitch) / sampleRate;
      let value = 0;
      for (let harmonic = 1; harmonic <= 12; harmonic += 1) {
        const frequency = harmonic * pitch;
        if (frequency >= sampleRate / 2) break;
        const emphasis = formants.reduce((sum, f) => sum + Math.exp(-(((frequency - f) / 180) ** 2)), 0.15);
        value += (emphasis / harmonic) * Math.sin(harmonic * phase);
      }
      const envelope = Math.sin(Math.PI * t) ** 0.6;
      const noise = (random() - 0.5) * 0.04;
      out.writeInt16LE(
        Math.max(-32768, Math.min(32767, Math.round((0.35 * value * envelope + noise) * 32767))),
        sample * 2,
      );
    }
    for (let i = 0; i < pause && sample < total; i += 1, sample += 1) {
      out.writeInt16LE(Math.round((random() - 0.5) * 0.01 * 32767), sample * 2);
    }
  }
  return out;
}
