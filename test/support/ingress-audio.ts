/** Deterministic test audio, and pacing helpers for streaming it through the SDK. */
import crypto from "node:crypto";
import type { TetherSession } from "../../client";
import { until } from "./poll";

/**
 * `bytes` of pseudo-random pcm16 (seeded, so a failure can be reproduced; a shorter buffer
 * of the same seed is a prefix of a longer one). xorshift128 seeded by a hash of `seed`:
 * a hash per 32 bytes took 90 to 160 s for two hours of 8 kHz audio on a loaded machine,
 * most of a test's timeout.
 */
export function testPcm(bytes: number, seed = 1): Buffer {
  const digest = crypto.createHash("sha256").update(`testPcm:${seed}`).digest();
  const state = new Uint32Array(Uint8Array.from(digest).buffer, 0, 4);
  if (state.every((word) => word === 0)) state[0] = 1;
  let [x = 1, y = 0, z = 0, w = 0] = state;
  const words = new Uint32Array(Math.ceil(bytes / 4));
  for (let i = 0; i < words.length; i += 1) {
    const t = x ^ (x << 11);
    x = y;
    y = z;
    z = w;
    w = (w ^ (w >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
    words[i] = w;
  }
  return Buffer.from(words.buffer, 0, bytes);
}

/** A seeded generator of numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** Keeps at most `units` unacknowledged, so disconnects fall while audio is in flight. */
export async function throttle(session: TetherSession, units: number): Promise<void> {
  await until(
    "acks to catch up",
    () => session.stats.written - session.stats.acked <= units || session.error !== undefined,
    60_000,
  );
  if (session.error) throw session.error;
}
