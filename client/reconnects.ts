/**
 * The session's reconnects after a lost socket: how many attempts failed since the last
 * `ready` (backoff.ts spaces them, `maxReconnectAttempts` ends them), the one token refresh
 * allowed per `ready`, and the attempts it gave up on that may still reach the server late.
 */
import { type BackoffPolicy, backoffDelay } from "./backoff";

/** How long a socket that closed before `ready` may still take the conversation over at the server. */
const ABANDONED_ATTEMPT_WINDOW_MS = 60_000;

export interface ReconnectPolicy {
  readonly backoff: BackoffPolicy;
  readonly maxReconnectAttempts: number;
  readonly random: () => number;
}

export class Reconnects {
  /** Connection attempts that failed since the last `ready`. */
  private failed = 0;
  /** A new access token was fetched since the last `ready` (once only). */
  private reauthenticated = false;
  /**
   * When each socket that closed before its `ready` was lost. The server may still be
   * opening it (its takeover of the conversation can land after a newer socket's), and a
   * takeover by one of our own lost attempts is not a newer client.
   */
  private abandonedAt: number[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Gives the current socket up if `ready` has not come in time (a connection that hangs). */
  private readyTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly policy: ReconnectPolicy) {}

  get failedAttempts(): number {
    return this.failed;
  }

  /** A socket got its `ready`: the count of failures and the token refresh start over. */
  connected(): void {
    this.failed = 0;
    this.reauthenticated = false;
  }

  /** A socket closed before its `ready`. */
  abandoned(): void {
    this.abandonedAt.push(Date.now());
  }

  /** A token that expired mid-conversation is fetched again once per `ready`. */
  get mayReauthenticate(): boolean {
    return !this.reauthenticated;
  }

  reauthenticating(): void {
    this.reauthenticated = true;
  }

  /**
   * Whether a 4001 on our newest socket can be explained by one of our own abandoned
   * attempts (each explains one). An attempt lost longer than `ABANDONED_ATTEMPT_WINDOW_MS`
   * ago has landed or failed by now: it explains nothing, and a 4001 then means another
   * client resumed the conversation (the session stops).
   */
  supersededByOwnAttempt(): boolean {
    const now = Date.now();
    this.abandonedAt = this.abandonedAt.filter((at) => now - at < ABANDONED_ATTEMPT_WINDOW_MS);
    return this.abandonedAt.shift() !== undefined;
  }

  /**
   * Runs `reconnect` after the next backoff delay; undefined (nothing scheduled) once
   * `maxReconnectAttempts` attempts failed.
   */
  schedule(overloaded: boolean, reconnect: () => void): { attempt: number; delayMs: number } | undefined {
    if (this.failed >= this.policy.maxReconnectAttempts) return undefined;
    const delayMs = backoffDelay(this.policy.backoff, this.failed, this.policy.random, overloaded);
    this.failed += 1;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      reconnect();
    }, delayMs);
    return { attempt: this.failed, delayMs };
  }

  /** Runs `expired` unless `clearReadyTimer` comes first (one socket at a time waits for `ready`). */
  armReadyTimer(timeoutMs: number, expired: () => void): void {
    this.clearReadyTimer();
    this.readyTimer = setTimeout(() => {
      this.readyTimer = undefined;
      expired();
    }, timeoutMs);
  }

  clearReadyTimer(): void {
    if (this.readyTimer !== undefined) clearTimeout(this.readyTimer);
    this.readyTimer = undefined;
  }

  cancel(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
