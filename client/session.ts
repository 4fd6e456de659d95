/**
 * One conversation streamed to one tether environment, across any number of sockets.
 *
 * - The ingress URL is resolved once, when the session starts, and pinned: every reconnect
 *   goes to that URL with the resume token. Nothing here ever asks "what is the current
 *   backend?" again, so a conversation cannot drift to another environment mid-stream.
 * - `environment` is what the server's `ready` says, not a guess from the URL. A reconnect
 *   that reports another environment or conversation stops the session (ready-check.ts
 *   holds every rule a `ready` must meet, as a pure function).
 * - One object is one conversation; its sockets come and go. The private fields are kept
 *   in two groups: the conversation's, then the current socket's (`socket...`).
 * - Audio is held in a bounded replay buffer until acknowledged; after a reconnect it is
 *   re-sent from `ready.position`. Text messages are held until an `ack` covers them and
 *   re-sent after a reconnect otherwise (outbox.ts, with the ledgers the server keeps too:
 *   shared/ack-ledger.ts, shared/text-ledger.ts).
 * - Its other concerns have files of their own: events and config (session-events.ts),
 *   what the app reads of it (session-view.ts),
 *   opening a socket (listen-socket.ts), which socket an event came from (session-sockets.ts),
 *   reconnects and the ready timeout (reconnects.ts), `goaway` (handover.ts), what a close
 *   means (close-outcome.ts).
 * - On a close code whose action is not "resume" (4409 wrong environment, 4403, 4410, ...)
 *   the session stops and reports a `TetherError`; it never tries another URL.
 * - With a store (store.ts) the replay buffer and the held text messages are written to it
 *   too: audio is sent only once stored, and a session can be rebuilt from a store after
 *   the app restarted (`restored`), continuing at the server's `ready.position`.
 */
import type { SegmentInput } from "../shared/messages";
import { errorCodeForClose, type GoawayMessage, type ReadyMessage, type ServerMessage } from "../shared/protocol";
import { closeOutcome } from "./close-outcome";
import { TetherError } from "./errors";
import { StoreWriteError } from "./outbox";
import { checkReady } from "./ready-check";
import { Reconnects } from "./reconnects";
import type { FinalizeResult, SessionConfig } from "./session-events";
import { SessionSockets } from "./session-sockets";
import { SessionView } from "./session-view";
import { SessionWaiters } from "./session-waiters";

type State = "connecting" | "open" | "waiting" | "finalized" | "failed" | "closed";

export class TetherSession extends SessionView {
  // The conversation: one for the life of this object, across all its sockets (with the
  // pinned facts, the outbox and the counters of session-view.ts).
  private state: State = "connecting";
  private readonly reconnects: Reconnects;
  private finalizeRequested = false;
  private readonly waiters = new SessionWaiters();

  // The current socket (replaced on every reconnect) and the ones around a handover.
  private readonly sockets: SessionSockets;

  constructor(private readonly config: SessionConfig) {
    super(config);
    this.reconnects = new Reconnects(config);
    this.sockets = new SessionSockets(config, this.reconnects, {
      message: (message) => this.onServerMessage(message),
      handedOver: (ready) => {
        // Text messages sent on the warned socket are sent again on this one (always safe).
        this.outbox.texts.forgetSends();
        this.onReady(ready);
      },
      retiringAck: (position, sentOnSocket) => this.onAck(position, sentOnSocket),
      closed: (code, reason) => this.onSocketClose(code, reason),
      retired: (code, reason) => this.emit("retired", { closeCode: code, reason }),
      violation: (message) => this.violation(message),
      failed: (error) => this.fail(error),
      stopped: () => this.isStopped(),
      connecting: () => this.state === "connecting",
      mayHandOver: () => !this.isStopped() && this.state === "open",
      resumeToken: () => this.pinned.resumeToken,
      carried: () => this.outbox.audio.carried,
    });
  }

  /** Opens the first socket; resolves on its `ready` (after retries), rejects on a terminal error. */
  start(): Promise<void> {
    const started = this.waiters.untilStarted();
    this.openSocket();
    return started;
  }

  // ------------------------------------------------------------ app API

  /**
   * Queues audio: pcm16 bytes (an even number, any length), or exactly one Opus packet.
   * Resolves once it is in the replay buffer (and its store); waits while the buffer is
   * full, or throws `StoreFullError` if the session was created with `whenFull: "fail"`.
   */
  async write(audio: Uint8Array): Promise<void> {
    this.throwIfStopped();
    if (this.finalizeRequested) throw new TetherError("closed", "the session is finalizing: no more audio");
    try {
      await this.outbox.write(audio, this.config.whenFull ?? "wait", () => this.throwIfStopped());
    } catch (error) {
      if (!(error instanceof StoreWriteError)) throw error;
      const failure = new TetherError("storage_failed", `the store refused audio: ${error.message}`);
      this.fail(failure, true);
      throw failure;
    }
    if (this.state === "open") this.outbox.sendStored(this.sockets.current);
  }

  /** Sends transcript segments (re-sending a segment id replaces it). */
  sendSegments(segments: readonly SegmentInput[]): void {
    this.queueMessage({ type: "segments", segments });
  }

  /** Assigns segments (of any earlier socket of the conversation) to a person. */
  assignSpeaker(personId: string, segmentIds: readonly string[]): void {
    this.queueMessage({ type: "speaker_assigned", person_id: personId, segment_ids: segmentIds });
  }

  /** Ends the conversation; resolves when the server answered `finalized` (everything is durable). */
  finalize(): Promise<FinalizeResult> {
    const result = this.waiters.untilFinalized(this.terminal);
    if (!this.finalizeRequested && !this.terminal) {
      this.finalizeRequested = true;
      if (this.state === "open") this.sockets.send(JSON.stringify({ type: "finalize" }));
    }
    return result;
  }

  /**
   * Stops without finalizing: the socket closes and the session does not reconnect. The
   * conversation stays resumable with `resumeToken` until the server's idle timeout
   * finalizes it.
   */
  close(): void {
    if (this.isStopped()) return;
    this.stop(new TetherError("closed", "the app closed the session"), "closed");
    this.sockets.current?.close(1000, "client closed");
  }

  /** Drops the current socket the way a network failure would; the session resumes on its own. */
  simulateDisconnect(): void {
    this.sockets.drop();
  }

  // ------------------------------------------------------------ sockets

  /** Opens the current socket anew (after a loss); session-sockets.ts routes its events. */
  private openSocket(): void {
    this.state = "connecting";
    void this.sockets.open();
  }

  // ------------------------------------------------------------ handover (goaway)

  /**
   * The server closes the current socket within `close_in_ms`: open the next one at once,
   * while this one still carries the audio and delivers acks (make before break). At the
   * next one's `ready` the audio moves there from `ready.position`, and this one retires
   * (handover.ts): its `4001` (the next socket took over) or `1012` is expected. A finalize
   * under way stays on this socket: it completes before the socket closes.
   */
  private onGoaway(message: GoawayMessage): void {
    const handingOver = this.state === "open" && !this.finalizeRequested && !this.sockets.handover.warned;
    this.emit("goaway", { reason: message.reason, closeInMs: message.close_in_ms, handingOver });
    if (handingOver) this.sockets.handover.begin(message.close_in_ms);
  }

  private onServerMessage(message: ServerMessage): void {
    switch (message.type) {
      case "ready":
        this.onReady(message);
        return;
      case "ack":
        this.onAck(message.position);
        return;
      case "finalized":
        this.onFinalized(message.conversation_id, message.position);
        return;
      case "error":
        this.sockets.error = message;
        return;
      case "goaway":
        this.onGoaway(message);
        return;
    }
  }

  private onReady(ready: ReadyMessage): void {
    this.reconnects.clearReadyTimer();
    const { buffer } = this.outbox;
    const stage = this.pinned.stage;
    const verdict = checkReady(ready, {
      stage,
      environment: this.pinned.environment,
      conversationId: this.pinned.conversationId,
      codec: this.codec,
      positionUnit: this.positionUnit,
      held: { start: buffer.start, end: buffer.end, capacityBytes: buffer.capacityBytes },
      acked: this.outbox.audio.acked,
    });
    if (!verdict.ok) {
      this.fail(verdict.error, true);
      return;
    }
    if (verdict.rebase) buffer.rebase(ready.position);
    const resumed = stage === "reconnect";
    const handover = resumed && this.sockets.handover.pending;
    this.sockets.handover.pending = false;
    if (handover) this.handoverCount += 1;
    else if (resumed) this.reconnectCount += 1;
    this.pinned.pin(ready);
    this.config.log?.setConversation(ready.conversation_id, ready.resume_token);
    this.reconnects.connected();
    this.state = "open";
    // Re-send what the server does not have: held text messages, audio from its position, finalize.
    this.outbox.resend(this.sockets.current, ready.session_id, ready.position);
    if (this.finalizeRequested) this.sockets.send(JSON.stringify({ type: "finalize" }));
    this.emit("ready", {
      environment: ready.environment,
      conversationId: ready.conversation_id,
      sessionId: ready.session_id,
      position: ready.position,
      resumed,
      handover,
    });
    this.waiters.started();
  }

  private onAck(position: number, sentOnSocket = this.outbox.audio.carried): void {
    const verdict = this.outbox.ack(position, sentOnSocket);
    if (verdict === "beyond")
      this.violation(`the server acknowledged ${position}, beyond the ${sentOnSocket} units sent`);
    else if (verdict === "advanced") this.emit("ack", { position });
  }

  private onFinalized(conversationId: string, position: number): void {
    const written = this.outbox.buffer.end;
    if (position !== written) {
      this.fail(
        new TetherError(
          "position_mismatch",
          `the server finalized at ${position}, but ${written} units were written: units [${position}, ${written}) are not stored`,
          { notStored: this.outbox.notStored(position, false) },
        ),
        true,
      );
      return;
    }
    this.outbox.finalized(position);
    this.state = "finalized";
    this.sockets.handover.end();
    const result = { conversationId, position };
    const settle = () => {
      this.emit("finalized", result);
      this.waiters.finalized(result);
    };
    // Everything is stored server-side: the local record goes (a failure leaves a record that resumes as finalized).
    const removed = this.config.log?.remove();
    if (removed) removed.then(settle, settle);
    else settle();
  }

  private onSocketClose(code: number, reason: string): void {
    this.sockets.current = undefined;
    this.reconnects.clearReadyTimer();
    if (this.state === "finalized" || this.state === "closed" || this.state === "failed") return;
    // Anything sent on the closed socket and not acknowledged must be sent again.
    this.outbox.texts.forgetSends();
    if (this.sockets.handover.warned) {
      // Expected after `goaway`, whatever its code: the handover carries on without it.
      this.state = "connecting";
      this.sockets.continueOnNext(code, reason);
      return;
    }
    // A loss (even of a handover's next socket): the next `ready` is a reconnect.
    this.sockets.handover.pending = false;
    if (this.state === "connecting") this.reconnects.abandoned();
    this.state = "waiting";
    const error = this.sockets.error;
    if ((error?.code ?? errorCodeForClose(code)) === "superseded" && this.reconnects.supersededByOwnAttempt()) {
      // Not a newer client: an attempt of ours that we gave up on reached the server late and
      // took the conversation from this socket. Nobody holds it now; resume it.
      this.scheduleReconnect(code, reason, false);
      return;
    }
    const held = this.outbox.texts.size;
    const outcome = closeOutcome({
      code,
      reason,
      error,
      mayReauthenticate: this.pinned.everReady && this.reconnects.mayReauthenticate,
      conversationId: this.pinned.conversationId,
      buffer: this.outbox.buffer,
      texts: this.outbox.texts,
      maxFrameBytes: this.outbox.maxFrame,
    });
    if (this.outbox.texts.size !== held) this.outbox.storeTexts();
    switch (outcome.kind) {
      case "reconnect":
        this.scheduleReconnect(code, reason, outcome.overloaded);
        return;
      case "reauthenticate":
        // A token that expired mid-conversation: fetch a fresh one once, right away.
        this.reconnects.reauthenticating();
        this.openSocket();
        return;
      case "finalized":
        this.onFinalized(outcome.conversationId, outcome.position);
        return;
      case "fail":
        this.fail(outcome.error);
        return;
    }
  }

  private scheduleReconnect(closeCode: number, reason: string, overloaded: boolean): void {
    const scheduled = this.reconnects.schedule(overloaded, () => {
      if (!this.isStopped()) this.openSocket();
    });
    if (scheduled === undefined) {
      this.fail(
        new TetherError(
          "unreachable",
          `gave up after ${this.reconnects.failedAttempts} failed attempts to reach ${this.url}`,
          { closeCode },
        ),
      );
      return;
    }
    this.emit("reconnecting", { ...scheduled, closeCode, reason });
  }

  // ------------------------------------------------------------ sending

  private queueMessage(message: Record<string, unknown>): void {
    this.throwIfStopped();
    if (this.finalizeRequested) throw new TetherError("closed", "the session is finalizing: no more messages");
    if (!this.outbox.queueText(this.sockets.current, JSON.stringify(message), this.state === "open")) {
      throw new RangeError(
        `${this.outbox.texts.size} text messages await an acknowledgement: send audio, or fewer messages`,
      );
    }
  }

  // ------------------------------------------------------------ stopping

  private isStopped(): boolean {
    return this.state === "failed" || this.state === "closed" || this.state === "finalized";
  }

  private throwIfStopped(): void {
    if (this.terminal) throw this.terminal;
    if (this.state === "finalized") throw new TetherError("closed", "the conversation is finalized");
  }

  private violation(message: string): void {
    this.fail(new TetherError("protocol_violation", message), true);
  }

  /** Stops for good: no reconnect, waiters rejected, `error` emitted. */
  private fail(error: TetherError, closeSocket = false): void {
    if (this.isStopped()) return;
    this.stop(error, "failed");
    if (closeSocket) this.sockets.current?.close(1000, error.code);
    this.emit("error", error);
  }

  private stop(error: TetherError, state: "failed" | "closed"): void {
    this.state = state;
    this.terminal = error;
    this.reconnects.cancel();
    this.reconnects.clearReadyTimer();
    this.sockets.handover.end();
    this.waiters.stopped(error);
    this.outbox.wake();
  }
}
