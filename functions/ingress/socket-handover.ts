/**
 * How one socket gives its conversation up when told to from outside (PROTOCOL.md section 2):
 * warned by `goaway` (drain.ts says when), superseded by a newer socket (4001 once its
 * publishes settled, or `supersedeWaitMs`), or drained when its instance shuts down or the
 * warning ran out (everything received made durable, then 1012). A finalize under way
 * completes instead. The socket itself is socket-session.ts.
 */
import type { Logger } from "../../shared/logger";
import type { ErrorCode, GoawayMessage, GoawayReason } from "../../shared/protocol";
import type { ConversationStore } from "./conversation-store";
import { SocketGoaway } from "./drain";
import type { SocketState } from "./socket-state";

/** What the handover needs from its socket's session. */
export interface HandoverHost {
  readonly sessionId: string;
  readonly store: ConversationStore;
  /** How long a superseded socket waits for its publishes before its 4001. */
  readonly supersedeWaitMs: number;
  state(): SocketState;
  /** Moves to `superseded`: the socket stops reading and drops its partial chunk. */
  enterSuperseded(): void;
  /** Stops reading the socket (TCP holds the client back). */
  stopReading(): void;
  /** The finalize under way, once one started. */
  finalizing(): Promise<void> | undefined;
  /** Resolves when every complete chunk and event received is published and recorded. */
  settled(): Promise<void>;
  refuse(code: ErrorCode, message: string): void;
  /** Sends `goaway` if the socket is open; false when it is not. */
  sendGoaway(message: GoawayMessage): boolean;
  logger(): Logger;
  acked(): number;
  conversationId(): string | undefined;
}

function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    void promise.finally(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export class SocketHandover {
  /** The instance is shutting down (`drain`): no conversation is opened any more. */
  private drainingNow = false;
  /** The warning before this socket is closed (drain.ts). */
  private readonly goawayState: SocketGoaway;

  constructor(private readonly host: HandoverHost) {
    this.goawayState = new SocketGoaway({
      send: (message) => host.sendGoaway(message),
      // Either reason, drain or socket age: one line each, with the conversation and environment.
      warned: (reason, closeInMs) =>
        host.logger().info({ reason, close_in_ms: closeInMs, acked: host.acked() }, "goaway sent: the client moves"),
      watchOwner: (lost) => this.watchOwner(lost),
      moved: () => void this.supersede(),
      // A socket past its maximum life says so: its instance is not shutting down.
      expired: () =>
        void this.drain(
          this.goawayState.reason === "max_socket_age"
            ? "this socket reached its maximum life and the client did not move: resume"
            : undefined,
        ),
    });
  }

  get draining(): boolean {
    return this.drainingNow;
  }

  /** The reason of the goaway sent, if one was. */
  get goawayReason(): GoawayReason | undefined {
    return this.goawayState.reason;
  }

  /** Starts the socket's life clock (at `ready`): `goaway` comes before its end. */
  armMaxAge(maxSocketMs: number): void {
    this.goawayState.armMaxAge(maxSocketMs);
  }

  /** The socket closed: every timer and watch stops. */
  stop(): void {
    this.goawayState.stop();
  }

  /** A newer socket resumes the conversation on this instance. */
  async supersede(): Promise<void> {
    const state = this.host.state();
    if (state === "finalizing") {
      await this.host.finalizing();
      return;
    }
    if (state === "closing" || state === "closed" || state === "superseded") return;
    const wasOpening = state === "opening";
    this.host.enterSuperseded();
    if (!wasOpening) await withTimeout(this.host.settled(), this.host.supersedeWaitMs);
    this.host.refuse("superseded", "a newer socket resumed this conversation");
  }

  /**
   * Shutdown (or a goaway that ran out): stop reading, make every complete chunk received
   * durable and ack it, then close with 1012 saying `why`. A finalize in progress completes
   * instead (1000).
   */
  async drain(why = "this ingress instance is shutting down: reconnect to resume"): Promise<void> {
    this.drainingNow = true;
    this.host.stopReading();
    const state = this.host.state();
    if (state === "open" || state === "superseded") {
      await this.host.settled();
      if (this.host.state() === "open") this.host.refuse("restarting", why);
    } else if (state === "finalizing") {
      await this.host.finalizing();
    }
  }

  /**
   * Warns the client that this socket closes within `closeInMs` (drain.ts); it keeps
   * receiving and acknowledging until the client moved (4001) or the time ran out (1012).
   */
  goaway(reason: GoawayReason, closeInMs: number): void {
    this.goawayState.send(reason, closeInMs);
  }

  private watchOwner(lost: () => void): (() => void) | undefined {
    const conversationId = this.host.conversationId();
    if (conversationId === undefined) return undefined;
    return this.host.store.watchOwner(
      conversationId,
      this.host.sessionId,
      () => {
        this.host.logger().info("the client moved to a new socket after goaway");
        lost();
      },
      (error) =>
        this.host.logger().warn({ err: error }, "watching the conversation's owner failed: the goaway deadline closes"),
    );
  }
}
