/**
 * Reconnect delays: exponential backoff with jitter, capped. Jitter spreads the reconnects
 * of many clients that lost the same ingress instance, so they do not return in one wave.
 */

export interface BackoffPolicy {
  /** Delay before the first retry after a failure. */
  readonly initialDelayMs: number;
  /** No delay is longer than this. */
  readonly maxDelayMs: number;
  /** Growth per consecutive failure. */
  readonly multiplier: number;
  /** Fraction of the delay taken away at random: 0 = none, 1 = anywhere in [0, delay]. */
  readonly jitter: number;
  /** The server said it is overloaded (1013): wait at least this long. */
  readonly overloadedDelayMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = {
  initialDelayMs: 250,
  maxDelayMs: 10_000,
  multiplier: 2,
  jitter: 0.5,
  overloadedDelayMs: 2_000,
};

/**
 * Delay before retry number `attempt` (0 = the first retry after a failure).
 * `random` returns a number in [0, 1).
 */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number, overloaded = false): number {
  const exponential = policy.initialDelayMs * policy.multiplier ** Math.max(0, attempt);
  const capped = Math.min(policy.maxDelayMs, exponential);
  const jittered = capped * (1 - policy.jitter * random());
  return Math.round(overloaded ? Math.max(policy.overloadedDelayMs, jittered) : jittered);
}
