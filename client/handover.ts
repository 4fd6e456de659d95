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
