/** Deterministic test audio, and pacing helpers for streaming it through the SDK. */
import crypto from "node:crypto";
import type { TetherSession } from "../../client";

/** `bytes` of pseudo-random pcm16 (seeded, so a failure can be reproduced). */
export function testPcm(bytes: number, seed = 1): Buffer {
  const out = Buffer.alloc(bytes);
  let offset = 0;
  let counter = 0;
  while (offset < bytes) {
    const block = crypto.createHash("sha256").update(`${seed}:${counter}`).digest();
    block.copy(out, offset, 0, Math.min(block.length, bytes - offset));
    offset += block.length;
    counter += 1;
  }
  return out;
}

/** A seeded generator of numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** Waits until `condition` holds (polling); throws naming `what` after `timeoutMs`. */
export async function until(what: string, condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Like `until`, for a condition that must be read asynchronously (Firestore). */
export async function eventually(what: string, condition: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
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
