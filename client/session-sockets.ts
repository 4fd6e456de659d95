/**
 * A session's sockets and where each event on them goes: the current socket, the next one
 * opened after `goaway` until its `ready`, and the retiring ones still delivering acks
 * (handover.ts). Opening a socket and giving up on one that never says `ready` live here
 * too. What a message or a close means for the conversation is the session's (session.ts).
 */
import type { ErrorMessage, ReadyMessage, ServerMessage } from "../shared/protocol";
import { TetherError } from "./errors";
import { Handover } from "./handover";
import { accessToken, listenSocket } from "./listen-socket";
import type { Reconnects } from "./reconnects";
import { readServerMessage } from "./server-message";
import type { SessionConfig } from "./session-events";
import { SOCKET_OPEN, type SocketLike } from "./socket";

export interface SocketEvents {
  /** A message on the current socket. */
  message(message: ServerMessage): void;
  /** The next socket's `ready`: it is the current socket now, the warned one retires. */
  handedOver(ready: ReadyMessage): void;
  /** An `ack` on a retiring socket; `sentOnSocket` bounds it. */
  retiringAck(position: number, sentOnSocket: number): void;
  /** The current socket closed (or was given up on). */
  closed(code: number, reason: string): void;
  /** A socket the session moved away from closed. */
  retired(code: number, reason: string): void;
  violation(message: string): void;
  /** No socket could be opened (no token, a bad URL): the session stops. */
  failed(error: TetherError): void;
  stopped(): boolean;
  /** The session waits for the current socket's `ready`. */
  connecting(): boolean;
  /** The session is open on the warned socket: another try at the next one makes sense. */
  mayHandOver(): boolean;
  /** The resume token a new socket presents (the latest `ready`'s). */
  resumeToken(): string | undefined;
  /** Units sent on the current socket so far (a retiring socket's acks stay below it). */
  carried(): number;
}

export class SessionSockets {
  /** The current socket: replaced on every reconnect. */
  current: SocketLike | undefined;
  /** The `error` message the server sent on the current socket before closing it. */
  error: ErrorMessage | undefined;
  readonly handover: Handover;

  constructor(
    private readonly config: SessionConfig,
    private readonly reconnects: Reconnects,
    private readonly events: SocketEvents,
  ) {
    this.handover = new Handover({
      backoff: config.backoff,
      random: config.random,
      readyTimeoutMs: config.readyTimeoutMs,
      open: () => void this.open(true),
      mayRetry: () => events.mayHandOver(),
      abandoned: () => reconnects.abandoned(),
    });
  }

  /**
   * Opens a socket: the current one (after a loss), or with `handover` the next one, while
   * the current socket, warned by `goaway`, still carries the audio until the next one's
   * `ready` (make before break).
   */
  async open(handover = false): Promise<void> {
    if (!handover) this.error = undefined;
    const token = await accessToken(this.config);
    if (token instanceof TetherError) {
      this.events.failed(token);
      return;
    }
    if (this.events.stopped()) return;
    const socket = listenSocket(this.config, token, this.events.resumeToken());
    if (socket instanceof TetherError) {
      this.events.failed(socket);
      return;
    }
    // The next socket, unless the warned one closed while this one was being opened.
    const next = handover && this.handover.adopt(socket);
    if (!next) this.current = socket;
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event) => {
      if (this.current === socket) this.onCurrentMessage(event.data);
      else if (this.handover.isNext(socket)) this.onNextSocketMessage(socket, event.data);
      else this.onRetiringMessage(socket, event.data);
    };
    socket.onclose = (event) => {
      if (this.current === socket) this.events.closed(event.code, event.reason);
      else if (this.handover.isNext(socket)) this.handover.lost(socket);
      else if (this.handover.retiring.closed(socket)) this.events.retired(event.code, event.reason);
    };
    socket.onerror = () => undefined; // a close event follows and carries the outcome
    if (!next) this.armReadyTimer(socket);
  }

  /**
   * The warned socket closed before the next one's `ready`: its close is expected, and the
   * next socket becomes the current one, whether it is connecting, still being opened, or
   * was lost (then it is opened now, not after the rest of its backoff).
   */
  continueOnNext(code: number, reason: string): void {
    this.events.retired(code, reason);
    this.error = undefined;
    const next = this.handover.takeNext();
    if (next === "opening") return;
    if (next === undefined) {
      void this.open();
      return;
    }
    this.current = next;
    this.armReadyTimer(next);
  }

  /** Sends on the current socket if it is open. */
  send(text: string): void {
    const socket = this.current;
    if (socket !== undefined && socket.readyState === SOCKET_OPEN) socket.send(text);
  }

  /** Drops the current socket the way a network failure would. */
  drop(): void {
    const socket = this.current;
    if (socket === undefined || socket.readyState !== SOCKET_OPEN) return;
    if (socket.terminate) socket.terminate();
    else socket.close(4000, "simulated disconnect");
  }

  /**
   * A connection can be accepted and then never answered (an instance that died holding it,
   * a front end that hangs): without `ready` in time, it is a lost attempt.
   */
  private armReadyTimer(socket: SocketLike): void {
    this.reconnects.armReadyTimer(this.config.readyTimeoutMs, () => {
      if (this.current !== socket || !this.events.connecting()) return;
      const reason = `no ready within ${this.config.readyTimeoutMs} ms`;
      this.current = undefined; // its own close event, whenever it comes, is ignored
      try {
        socket.close(4000, reason);
      } catch {
        // closing a socket that never opened may throw on some platforms; it is dropped either way
      }
      this.events.closed(1006, reason);
    });
  }

  private onCurrentMessage(data: unknown): void {
    const message = this.parse(data);
    if (message !== undefined) this.events.message(message);
  }

  private onNextSocketMessage(socket: SocketLike, data: unknown): void {
    const message = this.parse(data);
    if (message?.type !== "ready") return; // an error is followed by its close
    // The next socket becomes the current one; the warned one retires, still delivering acks.
    this.handover.promote(this.current, this.events.carried());
    this.current = socket;
    this.error = undefined;
    this.events.handedOver(message);
  }

  /** A socket the session moved away from still acknowledges what was sent on it. */
  private onRetiringMessage(socket: SocketLike, data: unknown): void {
    const sent = this.handover.retiring.sentPosition(socket);
    if (sent === undefined) return;
    const message = this.parse(data);
    if (message?.type === "ack") this.events.retiringAck(message.position, sent);
  }

  private parse(data: unknown): ServerMessage | undefined {
    const read = readServerMessage(data);
    if (read === undefined || read.ok) return read?.message;
    this.events.violation(read.violation);
    return undefined;
  }
}
