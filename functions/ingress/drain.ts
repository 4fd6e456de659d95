/**
 * Make-before-break: how one socket is warned before it is closed (`goaway`, PROTOCOL.md
 * section 2), and when.
 *
 * A socket is warned when its instance drains (SIGTERM: Cloud Run gives 10 s) and before it
 * reaches its maximum life (Cloud Run ends every request at its timeout). After the warning
 * the socket keeps receiving and acknowledging; its client resumes on a new socket, whose
 * open takes the conversation over. On this instance the registry closes the old socket
 * with 4001 itself; on another instance only the record says so, so the warned socket
 * watches its conversation's `active_session` and closes with 4001 when it changes. If the
 * client has not moved when `close_in_ms` runs out, the socket is drained (everything
 * received made durable) and closed with 1012.
 */
import type { GoawayMessage, GoawayReason } from "../../shared/protocol";

/** The longest warning before a socket's maximum life. */
const MAX_AGE_WARNING_MS = 30_000;

/**
 * When a socket of maximum life `maxSocketMs` is warned, and how long it then has: a
 * quarter of its life, at most 30 s, so that it is closed at its maximum life.
 */
export function maxAgePlan(maxSocketMs: number): { warnAfterMs: number; closeInMs: number } {
  const closeInMs = Math.min(MAX_AGE_WARNING_MS, Math.floor(maxSocketMs / 4));
  return { warnAfterMs: maxSocketMs - closeInMs, closeInMs };
}

/** What a warned socket needs from its session. */
export interface GoawayTarget {
  /** Sends the message if the socket is open; false when it is not (nothing to warn). */
  send(message: GoawayMessage): boolean;
  /** The goaway was sent (a drain's or the socket's age): its log line. */
  warned(reason: GoawayReason, closeInMs: number): void;
  /**
   * Watches the conversation's owner; `lost` is called once another socket owns it.
   * Returns the unsubscribe. Undefined while the socket has no conversation.
   */
  watchOwner(lost: () => void): (() => void) | undefined;
  /** The client moved: close with 4001 once the socket's publishes settled. */
  moved(): void;
  /** The warning ran out: make everything received durable, then close with 1012. */
  expired(): void;
}

/** One socket's warning: its maximum-life timer, then the goaway and its deadline. */
export class SocketGoaway {
  private ageTimer: NodeJS.Timeout | undefined;
  private deadline: NodeJS.Timeout | undefined;
  private unwatch: (() => void) | undefined;
  private sent: GoawayReason | undefined;
  /** A warning that came before the socket was open: sent at `ready` with the time left. */
  private pending: { reason: GoawayReason; closeAt: number } | undefined;

  constructor(
    private readonly target: GoawayTarget,
    private readonly now: () => number = Date.now,
  ) {}

  /** The reason of the goaway sent, if one was. */
  get reason(): GoawayReason | undefined {
    return this.sent;
  }

  /** Starts the socket's life clock (at `ready`), and sends a warning that came while it opened. */
  armMaxAge(maxSocketMs: number): void {
    const pending = this.pending;
    this.pending = undefined;
    if (pending !== undefined) {
      this.send(pending.reason, Math.max(0, pending.closeAt - this.now()));
      return;
    }
    const plan = maxAgePlan(maxSocketMs);
    this.ageTimer = setTimeout(() => this.send("max_socket_age", plan.closeInMs), plan.warnAfterMs);
    this.ageTimer.unref();
  }

  /** Sends `goaway` (once) and starts its deadline; kept for `ready` while the socket opens. */
  send(reason: GoawayReason, closeInMs: number): void {
    if (this.sent !== undefined) return;
    clearTimeout(this.ageTimer);
    if (!this.target.send({ type: "goaway", reason, close_in_ms: closeInMs })) {
      this.pending ??= { reason, closeAt: this.now() + closeInMs };
      return;
    }
    this.sent = reason;
    this.target.warned(reason, closeInMs);
    this.unwatch = this.target.watchOwner(() => this.target.moved());
    this.deadline = setTimeout(() => this.target.expired(), closeInMs);
    this.deadline.unref();
  }

  /** The socket closed: every timer and watch stops. */
  stop(): void {
    clearTimeout(this.ageTimer);
    clearTimeout(this.deadline);
    this.unwatch?.();
    this.unwatch = undefined;
  }
}
