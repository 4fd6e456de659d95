/**
 * Seeded randomness for the runs that must replay from one seed (the chaos run, the
 * ingress-kill run, the benches): a small PRNG and the draws made from it.
 */

/** A PRNG: uniform in [0, 1). */
export type Random = () => number;

/** mulberry32: a tiny, fast 32-bit PRNG, deterministic for its seed. */
export function mulberry32(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** An independent stream for one purpose of a run (e.g. conversation 7, or worker faults). */
export function streamOf(seed: number, purpose: number): Random {
  // Mix the two so neighbouring seeds and purposes do not give correlated streams.
  const mixed = mulberry32((seed ^ Math.imul(purpose + 1, 0x9e3779b1)) >>> 0)();
  return mulberry32(Math.floor(mixed * 2 ** 32));
}

export const integerBetween = (random: Random, low: number, high: number): number =>
  low + Math.floor(random() * (high - low + 1));

export function pick<T>(random: Random, items: readonly T[]): T {
  const item = items[Math.floor(random() * items.length)];
  if (item === undefined) throw new RangeError("pick from an empty list");
  return item;
}
