/** How a speaker sample is scored (functions/extract-speakers/sample-quality.ts). */
import { measureSignal, qualityScore } from "../../functions/extract-speakers/sample-quality";

describe("sample quality", () => {
  it("scores longer, cleaner samples higher", () => {
    const clean = { duration_ms: 10_000, speech_coverage: 1, assigned_coverage: 1, margin_ms: 2000 };
    expect(qualityScore(clean, 10_000)).toBe(1);
    expect(qualityScore({ ...clean, duration_ms: 8000 }, 10_000)).toBeLessThan(1);
    expect(qualityScore({ ...clean, margin_ms: 200 }, 10_000)).toBeLessThan(1);
    const clipped = { active_ratio: 1, clipped_ratio: 0.05, active_level_dbfs: -3 };
    expect(qualityScore(clean, 10_000, clipped)).toBeCloseTo(0.8);
  });

  it("measures active speech and clipping", () => {
    const samples = new Int16Array(16_000);
    for (let i = 0; i < 8000; i += 1) samples[i] = Math.round(12_000 * Math.sin(i / 5));
    samples[100] = 32767;
    const signal = measureSignal(samples, 16_000);
    expect(signal.active_ratio).toBe(0.5);
    expect(signal.clipped_ratio).toBeCloseTo(1 / 16_000);
    expect(measureSignal(new Int16Array(16_000), 16_000).active_ratio).toBe(0);
  });
});
