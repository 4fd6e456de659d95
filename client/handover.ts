/**
 * Make-before-break on the client (PROTOCOL.md section 2, `goaway`): the sockets a session
 * has moved away from after their `goaway`, while they still deliver acks.
 *
 * On `goaway` the session opens a new socket at once and sends its audio there from the new
 * `ready.position`; the old socket is kept here until the server closes it. Its acks still
 * count (each is bounded by what was sent on that socket), and its close, `4001` once the
 * new socket took the conversation over or `1012` when its time ran out, is expected: it
 * neither stops the session nor counts as a reconnect.
 */
import { type BackoffPolicy, backoffDelay } from "./backoff";
import type { SocketLike } from "./socket";

/** How long after its `close_in_ms` a retiring socket the server has not closed is closed here. */
const RETIRE_GRACE_MS = 5_000;

interface Retiring {
  /** The position after the last unit sent on it: no ack on it may exceed this. */
  readonly sentPosition: number;
  readonly timer: ReturnType<typeof setTimeout>;
}

export class RetiringSockets {
  private readonly sockets = new Map<SocketLike, Retiring>();

  /** `socket` was sent `goaway` and the session moves on; it closes within `closeInMs`. */
  add(socket: SocketLike, sentPosition: number, closeInMs: number): void {
    const timer = setTimeout(() => {
      try {
        socket.close(1000, "handed over");
      } catch {
        // already closing
      }
    }, closeInMs + RETIRE_GRACE_MS);
    // A Node timer must not keep the app alive for a socket that is only retiring.
    (timer as { unref?: () => void }).unref?.();
    this.sockets.set(socket, { sentPosition, timer });
  }

  /** What was sent on a retiring socket; undefined when `socket` is not one. */
  sentPosition(socket: SocketLike): number | undefined {
    return this.sockets.get(socket)?.sentPosition;
  }

  /** The socket closed; true when it was a retiring one. */
  closed(socket: SocketLike): boolean {
    const retiring = this.sockets.get(socket);
    if (retiring === undefined) return false;
    clearTimeout(retiring.timer);
    this.sockets.delete(socket);
    return true;
  }

  /** The session stops: every retiring socket is closed now. */
  closeAll(): void {
    for (const [socket, retiring] of this.sockets) {
      clearTimeout(retiring.timer);
      try {
        socket.close(1000, "session stopped");
      } catch {
        // already closing
      }
    }
    this.sockets.clear();
  }
}

export interface HandoverHooks {
  readonly backoff: BackoffPolicy;
  readonly random: () => number;
  readonly readyTimeoutMs: number;
  /** Opens the next socket (it is handed to `adopt`). */
  open(): void;
  /** The session is still open on the warned socket: another try at the next one makes sense. */
  mayRetry(): boolean;
  /** A next socket was lost before its `ready`: the server may still take it over late. */
  abandoned(): void;
}

/**
 * One session's move to a new socket after `goaway`: the warned socket, the next one until
 * its `ready` (retried with backoff while the warned one still works), and the retiring ones.
 *
 * The warned socket's close never ends the handover, whatever the next socket is doing:
 * being opened (it becomes the current socket once it exists), connecting (it is the current
 * socket now), or lost and waiting out a backoff (the wait ends and it is opened at once).
 * Only a loss of the socket that carries on is a reconnect.
 */
export class Handover {
  /** The current socket was sent `goaway`; its close (4001 or 1012) is expected. */
  warned = false;
  /** A `goaway` came and no `ready` since: the next `ready` completes a handover. */
  pending = false;
  private warnedCloseInMs = 0;
  /** The socket opened to replace the warned one, until its `ready`. */
  private next: SocketLike | undefined;
  private nextReadyTimer: ReturnType<typeof setTimeout> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** `open` was called and its socket does not exist yet (the access token is being fetched). */
  private opening = false;
  private attempts = 0;
  /** Sockets moved away from after their `goaway`, still delivering acks. */
  readonly retiring = new RetiringSockets();

  constructor(private readonly hooks: HandoverHooks) {}

  /** The current socket closes within `closeInMs`: open the next one at once. */
  begin(closeInMs: number): void {
    this.warned = true;
    this.warnedCloseInMs = closeInMs;
    this.pending = true;
    this.attempts = 0;
    this.openNext();
  }

  /**
   * The socket `open` asked for exists: true when it is the next one, false when the warned
   * socket closed meanwhile and it is the current one.
   */
  adopt(socket: SocketLike): boolean {
    this.opening = false;
    if (!this.warned) return false;
    this.next = socket;
    this.clearNextReadyTimer();
    this.nextReadyTimer = setTimeout(() => {
      this.nextReadyTimer = undefined;
      if (this.next !== socket) return;
      try {
        socket.close(4000, `no ready within ${this.hooks.readyTimeoutMs} ms`);
      } catch {
        // dropped either way
      }
      this.lost(socket);
    }, this.hooks.readyTimeoutMs);
    return true;
  }

  isNext(socket: SocketLike): boolean {
    return this.next !== undefined && this.next === socket;
  }

  /**
   * The next socket got its `ready`: it becomes the current one, and `warned` (the current
   * one until now, which carried audio up to `sentPosition`) retires, still delivering acks.
   */
  promote(warned: SocketLike | undefined, sentPosition: number): void {
    if (warned !== undefined) this.retiring.add(warned, sentPosition, this.warnedCloseInMs);
    this.takeNext();
  }

  /**
   * The warned socket closed before the next one's `ready`, or the next one got its `ready`:
   * the next socket becomes the current one. `"opening"` while it is being opened (`adopt`
   * then says it is the current one); undefined when there is none: a next socket lost is
   * waiting out its backoff, which ends here (the caller opens the current socket now).
   */
  takeNext(): SocketLike | "opening" | undefined {
    this.warned = false;
    this.clearRetryTimer();
    if (this.opening) return "opening";
    const next = this.next;
    this.next = undefined;
    this.clearNextReadyTimer();
    return next;
  }

  /** The next socket was lost before its `ready`: try again while the warned one still works. */
  lost(socket: SocketLike): void {
    if (this.next !== socket) return;
    this.next = undefined;
    this.clearNextReadyTimer();
    this.hooks.abandoned();
    if (!this.warned || !this.hooks.mayRetry()) return;
    const delayMs = backoffDelay(this.hooks.backoff, this.attempts, this.hooks.random, false);
    this.attempts += 1;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.warned && this.next === undefined && this.hooks.mayRetry()) this.openNext();
    }, delayMs);
  }

  /** The session stopped or finalized: every socket but the current one goes. */
  end(): void {
    this.retiring.closeAll();
    this.clearNextReadyTimer();
    this.clearRetryTimer();
    this.opening = false;
    const next = this.next;
    this.next = undefined;
    try {
      next?.close(1000, "session over");
    } catch {
      // dropped either way
    }
  }

  private openNext(): void {
    this.opening = true;
    this.hooks.open();
  }

  private clearRetryTimer(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private clearNextReadyTimer(): void {
    if (this.nextReadyTimer !== undefined) clearTimeout(this.nextReadyTimer);
    this.nextReadyTimer = undefined;
  }
}
