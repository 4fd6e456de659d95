/**
 * The one place the bench turns samples into percentiles. Every figure comes from one
 * array of samples, copied and sorted here, so a line can never mix two sample sets or
 * read an array that was sorted before its last samples arrived: p50 <= p99 <= max always.
 */

/**
 * Nearest-rank percentile: the smallest sample with at least `p` percent of the samples at
 * or below it (p = 0 gives the minimum, p = 100 the maximum). NaN when there are no samples.
 */
export function percentile(samples: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`a percentile is between 0 and 100, not ${p}`);
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sortedPercentile(sorted, p);
}

function sortedPercentile(sorted: readonly number[], p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] ?? Number.NaN;
}

export interface Distribution {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** p50, p99 and max of one set of samples. */
export function distribution(samples: readonly number[]): Distribution {
  for (const sample of samples)
    if (!Number.isFinite(sample)) throw new RangeError(`samples must be finite numbers, got ${sample}`);
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50: sortedPercentile(sorted, 50),
    p99: sortedPercentile(sorted, 99),
    max: sortedPercentile(sorted, 100),
  };
}

/** `p50 12 ms, p99 40 ms, max 52 ms (1,234 samples)`. */
export function formatDistribution(d: Distribution, unit = "ms"): string {
  if (d.count === 0) return "no samples";
  const f = (x: number) => `${Math.round(x).toLocaleString("en")} ${unit}`;
  return `p50 ${f(d.p50)}, p99 ${f(d.p99)}, max ${f(d.max)} (${d.count.toLocaleString("en")} samples)`;
}
