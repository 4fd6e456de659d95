/**
 * Backpressure of one socket: why it is not read right now, and how long the pipeline may
 * hold it so. The ingress never buffers without bound: a socket stops being read while the
 * handshake runs with too much queued, while `maxChunksInFlightPerSocket` of its chunks or
 * `maxEventBytesInFlightPerSocket` of its text messages wait for Pub/Sub, while the process
 * budget of bytes in flight (audio and text alike) is exhausted, or while it stops
 * (supersede, shutdown). TCP then slows the client. Held back by the pipeline (in flight or
 * budget) for `overloadCloseMs` without a break, the socket is given up as overloaded (1013).
 *
 * The decisions are pure functions; `SocketBackpressure` applies them to the socket.
 */
import type { IngressLimits } from "./limits";
import type { PublishBudget } from "./publish-budget";

export type PauseReason =
  /** Frames queued before `ready` reached `maxQueuedBytesBeforeReady`. */
  | "opening"
  /** `maxChunksInFlightPerSocket` chunks, or `maxEventBytesInFlightPerSocket` of text, of this socket wait for Pub/Sub. */
  | "in_flight"
  /** The process-wide budget of bytes in flight is exhausted. */
  | "budget"
  /** The socket is being superseded or drained. */
  | "stopping";

/** What one socket has waiting for Pub/Sub: complete chunks, and bytes of text messages. */
export interface SocketLoad {
  readonly chunks: number;
  readonly eventBytes: number;
}

/** What the pipeline's load means for one socket with `load` waiting for Pub/Sub. */
export function pipelinePressure(
  load: SocketLoad,
  limits: Pick<IngressLimits, "maxChunksInFlightPerSocket" | "maxEventBytesInFlightPerSocket">,
  budgetExhausted: boolean,
): { readonly inFlight: boolean; readonly budget: boolean } {
  return {
    inFlight:
      load.chunks >= limits.maxChunksInFlightPerSocket || load.eventBytes >= limits.maxEventBytesInFlightPerSocket,
    // A socket with nothing in flight cannot help the budget recover by waiting.
    budget: budgetExhausted && (load.chunks > 0 || load.eventBytes > 0),
  };
}

/** Whether the pipeline (not the socket's own opening or stopping) holds the socket back. */
export function slowedByPipeline(reasons: ReadonlySet<PauseReason>): boolean {
  return reasons.has("in_flight") || reasons.has("budget");
}

/** The part of a WebSocket that backpressure drives (ws reads or stops reading the TCP socket). */
export interface PausableSocket {
  pause(): void;
  resume(): void;
}

export class SocketBackpressure {
  private readonly reasons = new Set<PauseReason>();
  private overloadTimer: NodeJS.Timeout | undefined;
  /** Set once the socket closes or begins to: it is read to the end, never paused again. */
  private closing = false;

  constructor(
    private readonly socket: PausableSocket,
    private readonly budget: PublishBudget,
    private readonly limits: Pick<
      IngressLimits,
      "maxChunksInFlightPerSocket" | "maxEventBytesInFlightPerSocket" | "overloadCloseMs"
    >,
    /** Called when the pipeline held the socket back for `overloadCloseMs`. */
    private readonly onOverloaded: () => void,
  ) {}

  /** Stops reading for `reason` (until `resume(reason)`); ignored once the socket is closing. */
  pause(reason: PauseReason): void {
    if (this.closing) return;
    this.reasons.add(reason);
    this.update();
  }

  resume(reason: PauseReason): void {
    if (!this.reasons.delete(reason)) return;
    this.update();
  }

  /** Re-decides after what the socket has waiting for Pub/Sub changed. */
  apply(load: SocketLoad): void {
    const pressure = pipelinePressure(load, this.limits, this.budget.exhausted);
    if (pressure.inFlight) this.pause("in_flight");
    else this.resume("in_flight");
    if (pressure.budget && !this.reasons.has("budget")) {
      this.pause("budget");
      this.budget.whenAvailable(this.onBudgetAvailable);
    }
  }

  /**
   * The socket begins to close: it is read again, so the client's close frame arrives and
   * the close handshake completes (the session drops what else arrives).
   */
  readToClose(): void {
    this.closing = true;
    this.reasons.clear();
    this.update();
  }

  /** The socket closed: no overload timer, no budget wake-up. */
  stop(): void {
    this.closing = true;
    if (this.overloadTimer !== undefined) clearTimeout(this.overloadTimer);
    this.overloadTimer = undefined;
    this.budget.cancel(this.onBudgetAvailable);
  }

  private readonly onBudgetAvailable = (): void => this.resume("budget");

  private update(): void {
    if (this.reasons.size > 0) this.socket.pause();
    else this.socket.resume();
    const slowed = slowedByPipeline(this.reasons);
    if (slowed && this.overloadTimer === undefined) {
      this.overloadTimer = setTimeout(() => {
        this.overloadTimer = undefined;
        this.onOverloaded();
      }, this.limits.overloadCloseMs);
      this.overloadTimer.unref();
    } else if (!slowed && this.overloadTimer !== undefined) {
      clearTimeout(this.overloadTimer);
      this.overloadTimer = undefined;
    }
  }
}
