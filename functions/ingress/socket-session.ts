/**
 * One socket of `/v1/listen` (one session of a conversation; the conversation itself,
 * across its sockets, is live-conversation.ts), from the upgrade to the close: the
 * handshake, `ready`, then audio frames cut into chunks (chunker.ts) and published
 * (publisher.ts), an `ack` once a chunk is published and recorded durable, text messages to
 * the events topic, finalize, and every refusal as the protocol's error + close code. What
 * a frame may hold is decided by shared/frame-checks.ts; when the socket is read, by
 * backpressure.ts. Frames are taken in by frame-intake.ts, made durable and acknowledged by
 * durable-commits.ts, finalized by socket-finalize.ts; `goaway`, supersede and drain are
 * socket-handover.ts.
 *
 * Invariants:
 * - Acks are cumulative, monotonic, and never beyond what this socket received.
 * - The chunk being filled is never published except as the conversation's final chunk;
 *   at a disconnect or refusal it is dropped (logged) and the client re-sends it.
 * - Nothing is buffered without bound (backpressure.ts): with `maxChunksInFlightPerSocket`
 *   chunks or `maxEventBytesInFlightPerSocket` of text waiting for Pub/Sub, or the process
 *   budget (audio and text bytes) exhausted, the socket is not read
 *   (TCP slows the client); unread for `overloadCloseMs`, it is closed with 1013.
 */
import type { IncomingMessage } from "node:http";
import { signResumeToken } from "../../shared/auth";
import type { EnvironmentName } from "../../shared/environment";
import { conversationLogger, LOG_EVENTS, type Logger } from "../../shared/logger";
import type { ErrorCode, GoawayReason } from "../../shared/protocol";
import { SocketBackpressure } from "./backpressure";
import { AbandonedOpen, type ConversationRegistry } from "./conversation-registry";
import type { ConversationStore } from "./conversation-store";
import type { LostConversation } from "./durable-commits";
import { authorizeUpgrade, type HandshakeConfig, type HandshakeContext } from "./handshake";
import { newSessionId } from "./ids";
import type { IngressLimits } from "./limits";
import type { AttachedSocket, FinalizeReason, LiveConversation } from "./live-conversation";
import { ProtocolError } from "./protocol-error";
import type { PublishBudget } from "./publish-budget";
import type { IngressPublisher } from "./publisher";
import { type ErrorExtra, frameBytes, type IngressSocket } from "./socket";
import { recordSocketClose } from "./socket-close";
import { SocketFinalizer } from "./socket-finalize";
import { SocketHandover } from "./socket-handover";
import { EarlyFrames, type OpenedSocket, openedSocket, readyMessage } from "./socket-opening";
import type { SocketState } from "./socket-state";
import { audioLimitUnits, type UserLimitsGate } from "./user-limits";

export interface SocketSessionDeps {
  readonly environment: EnvironmentName;
  readonly handshake: HandshakeConfig;
  readonly registry: ConversationRegistry;
  readonly store: ConversationStore;
  readonly publisher: IngressPublisher;
  readonly budget: PublishBudget;
  readonly limits: IngressLimits;
  /** The per-user limits (4429): live sockets, conversations per minute, a conversation's size. */
  readonly userLimits: UserLimitsGate;
  /** A socket's maximum life: `goaway` comes before it (drain.ts). */
  readonly maxSocketMs: number;
  /** Carries `environment` (and `component`). */
  readonly logger: Logger;
  readonly onClosed: (session: SocketSession) => void;
}

export class SocketSession implements AttachedSocket {
  readonly sessionId = newSessionId();
  /** Cleared by each ping round; set by the pong. */
  alive = true;
  private state: SocketState = "opening";
  private logger: Logger;
  private readonly early = new EarlyFrames();
  private conversation: LiveConversation | undefined;
  /** Set together once the conversation is opened. */
  private open: OpenedSocket | undefined;
  private readonly backpressure: SocketBackpressure;
  /** `goaway`, supersede and drain: the socket giving its conversation up (socket-handover.ts). */
  private readonly handover: SocketHandover;
  private readonly finalizer: SocketFinalizer;
  private framesDroppedAfterStop = 0;
  private readonly closed: Promise<void>;
  private resolveClosed: () => void = () => undefined;

  /** The upgrade request, until the handshake has read it. */
  private request: IncomingMessage | undefined;

  constructor(
    private readonly socket: IngressSocket,
    request: IncomingMessage,
    private readonly deps: SocketSessionDeps,
  ) {
    this.request = request;
    this.backpressure = new SocketBackpressure(socket, deps.budget, deps.limits, () => this.overloaded());
    this.handover = new SocketHandover({
      sessionId: this.sessionId,
      store: deps.store,
      supersedeWaitMs: deps.limits.supersedeWaitMs,
      state: () => this.state,
      enterSuperseded: () => {
        this.state = "superseded";
        this.backpressure.pause("stopping");
        this.dropPartial("superseded");
      },
      stopReading: () => this.backpressure.pause("stopping"),
      finalizing: () => this.finalizer.running,
      settled: () => this.settled(),
      refuse: (code, message) => this.refuse(code, message),
      sendGoaway: (message) => this.state === "open" && socket.sendJson(message),
      logger: () => this.logger,
      acked: () => this.acked,
      conversationId: () => this.conversation?.id,
    });
    this.finalizer = new SocketFinalizer({
      socket,
      backpressure: this.backpressure,
      store: deps.store,
      state: () => this.state,
      enter: (state) => {
        this.state = state;
      },
      opened: () => (this.conversation && this.open ? { conversation: this.conversation, open: this.open } : undefined),
      refuseWith: (error) => this.refuseWith(error),
      fail: (error, context) => this.fail(error, context),
    });
    this.logger = deps.logger.child({ session_id: this.sessionId, conversation_id: null });
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    socket.on("message", (data, isBinary) => this.onMessage(frameBytes(data), isBinary));
    socket.on("close", (code) => this.onClose(code));
    socket.on("error", (error) => this.logger.warn({ err: error }, "socket error"));
    socket.on("pong", () => {
      this.alive = true;
    });
    socket.parserErrorListener = (code, message) => this.logRefusal(code, message);
  }

  /** Resolves once the socket is closed. */
  whenClosed(): Promise<void> {
    return this.closed;
  }

  /** Cuts the connection without a close handshake (a peer that stopped answering). */
  terminate(why: string): void {
    this.logger.warn({ acked: this.acked }, `socket dropped: ${why}`);
    this.socket.terminate();
  }

  ping(): void {
    this.alive = false;
    if (this.socket.readyState === this.socket.OPEN) this.socket.ping();
  }

  // ------------------------------------------------------------ opening

  /** Runs the handshake, opens the conversation, sends `ready`, then handles queued frames. */
  async start(): Promise<void> {
    const context: HandshakeContext = { conversationId: undefined, userId: undefined };
    try {
      const request = this.request;
      this.request = undefined; // not kept for the life of the socket
      if (request === undefined) return;
      const intent = await authorizeUpgrade(request, this.deps.handshake, context);
      this.logger = conversationLogger(this.deps.logger, {
        environment: this.deps.environment,
        session_id: this.sessionId,
        conversation_id: intent.conversationId,
        user_id: intent.userId,
      });
      if (this.state !== "opening") return;
      this.refuseOpenWhileDraining();
      await this.deps.userLimits.admitSocket(intent.userId, intent.conversationId, this.sessionId);
      if (this.state !== "opening") {
        await this.deps.userLimits.releaseSocket(this.sessionId); // closed while the lease was taken
        return;
      }
      const { conversation, opened } = await this.deps.registry.open(intent, this);
      this.conversation = conversation;
      const { userLimits } = this.deps;
      const seconds = userLimits.limits.conversation_audio_seconds;
      this.open = openedSocket(conversation, opened, {
        socket: this.socket,
        environment: this.deps.environment,
        sessionId: this.sessionId,
        publisher: this.deps.publisher,
        budget: this.deps.budget,
        logger: () => this.logger,
        load: (load) => this.backpressure.apply(load),
        failed: (error, context, fields) => this.fail(error, context, fields),
        lost: (result) => this.lostConversation(result),
        audioLimit: { units: audioLimitUnits(opened.codec, opened.sampleRate, seconds), seconds },
        refuse: (code, message) => this.refuse(code, message),
        refuseWith: (error) => this.refuseWith(error),
        finalize: (reason) => void this.finalize(reason),
      });
      conversation.segmentQuota ??= await userLimits.segmentQuota(opened.conversationId, opened.created);
      if (this.state !== "opening") return;
      this.refuseOpenWhileDraining();
      const resumeToken = await signResumeToken(this.deps.handshake.tokenKeys, {
        environment: this.deps.environment,
        conversationId: opened.conversationId,
        userId: opened.userId,
      });
      if (this.state !== "opening") return;
      this.socket.sendJson(readyMessage(this.deps.environment, this.sessionId, opened, resumeToken));
      this.state = "open";
      this.handover.armMaxAge(this.deps.maxSocketMs);
      this.logger.info(
        { kind: intent.kind, created: opened.created, position: opened.durablePosition, codec: opened.codec },
        "socket ready",
      );
      for (const frame of this.early.take()) this.onMessage(frame.data, frame.isBinary);
      this.backpressure.resume("opening");
    } catch (error) {
      if (error instanceof AbandonedOpen) {
        this.logger.info("the client left before its socket opened: the conversation was not taken over");
        return;
      }
      if (error instanceof ProtocolError) {
        if (this.logger.bindings().conversation_id === null && context.conversationId !== undefined) {
          this.logger = conversationLogger(this.logger, {
            environment: this.deps.environment,
            conversation_id: context.conversationId,
            user_id: context.userId ?? null,
          });
        }
        this.refuse(error.code, error.message, error.extra);
      } else {
        this.fail(error, "could not open the conversation");
      }
    }
  }

  private refuseOpenWhileDraining(): void {
    if (this.handover.draining)
      throw new ProtocolError("restarting", "this ingress instance is shutting down: reconnect");
  }

  // ------------------------------------------------------------ frames

  private onMessage(data: Buffer, isBinary: boolean): void {
    switch (this.state) {
      case "opening":
        if (this.early.hold(data, isBinary) >= this.deps.limits.maxQueuedBytesBeforeReady)
          this.backpressure.pause("opening");
        return;
      case "open":
        if (isBinary) this.open?.intake.audio(data);
        else this.open?.intake.text(data);
        return;
      case "finalizing":
        // Text still counts (an idle-timeout finalize may cross the client's messages); audio cannot.
        if (!isBinary) this.open?.intake.text(data);
        else
          this.logger.warn({ bytes: data.length }, "audio after finalize dropped: the client hears the final position");
        return;
      case "closing":
        if (this.finalizer.sent && !isBinary) {
          this.open?.intake.text(data);
          return;
        }
        this.framesDroppedAfterStop += 1;
        return;
      default:
        this.framesDroppedAfterStop += 1;
    }
  }

  /** The durable position acknowledged to the client (0 before the conversation opened). */
  private get acked(): number {
    return this.open?.commits.acked ?? 0;
  }

  /** How many of this socket's events (1..n, without a gap) Pub/Sub confirmed. */
  eventsConfirmed(): number {
    return this.open?.commits.eventsConfirmed() ?? 0;
  }

  private lostConversation(result: LostConversation): void {
    if (result.reason === "superseded") {
      this.refuse("superseded", "a newer socket resumed this conversation");
    } else {
      this.refuse("conversation_finalized", "the conversation was finalized", result.details);
    }
  }

  /** Resolves when every complete chunk and event received is published and recorded (or failed). */
  async settled(): Promise<void> {
    await this.open?.commits.settled();
  }

  // ------------------------------------------------------------ overload

  /** The pipeline held this socket back for `overloadCloseMs` (backpressure.ts). */
  private overloaded(): void {
    this.refuse(
      "overloaded",
      `the pipeline could not take this socket's audio for ${this.deps.limits.overloadCloseMs} ms: resume after a delay`,
      {},
      {
        in_flight_chunks: this.open?.commits.load.chunks ?? 0,
        in_flight_event_bytes: this.open?.commits.load.eventBytes ?? 0,
        budget_used_bytes: this.deps.budget.usedBytes,
      },
    );
  }

  // ------------------------------------------------------------ finalize, supersede, drain, goaway

  /** Client `finalize`, or the idle timeout while this socket is attached. */
  finalize(reason: FinalizeReason): Promise<void> {
    return this.finalizer.start(reason);
  }

  abandoned(): boolean {
    return this.conversation === undefined && this.state !== "opening";
  }

  /** A newer socket resumes the conversation on this instance (socket-handover.ts). */
  supersede(): Promise<void> {
    return this.handover.supersede();
  }

  /** Shutdown: everything received made durable and acknowledged, then 1012 (socket-handover.ts). */
  drain(why?: string): Promise<void> {
    return this.handover.drain(why);
  }

  /** Warns the client that this socket closes within `closeInMs` (socket-handover.ts). */
  goaway(reason: GoawayReason, closeInMs: number): void {
    this.handover.goaway(reason, closeInMs);
  }

  // ------------------------------------------------------------ refusals and close

  private dropPartial(why: string): void {
    const units = this.open?.chunker.dropPartial() ?? 0;
    if (units > 0) {
      this.logger.info(
        { units_dropped: units, position: this.open?.chunker.position, why },
        "partial chunk dropped unacknowledged: the client re-sends it",
      );
    }
  }

  private logRefusal(code: ErrorCode, message: string, fields: Record<string, unknown> = {}): void {
    const level = code === "superseded" || code === "restarting" ? "info" : "warn";
    this.logger[level](
      { log_event: LOG_EVENTS.socketRefused, code, acked: this.acked, ...fields },
      `socket refused: ${message}`,
    );
  }

  private refuseWith(error: ProtocolError): void {
    this.refuse(error.code, error.message, error.extra);
  }

  /** Sends the error and closes with its code; the partial chunk is dropped. */
  private refuse(code: ErrorCode, message: string, extra: ErrorExtra = {}, fields: Record<string, unknown> = {}): void {
    if (this.state === "closing" || this.state === "closed") return;
    this.logRefusal(code, message, fields);
    this.dropPartial(code);
    this.state = "closing";
    this.backpressure.readToClose(); // frames still arriving are dropped: the state is `closing`
    this.socket.closeWithError(code, message, extra);
  }

  private fail(error: unknown, context: string, fields: Record<string, unknown> = {}): void {
    if (this.state === "closed") {
      this.logger.warn(
        { err: error, ...fields },
        `${context} after the socket closed: the client re-sends from the durable position`,
      );
      return;
    }
    this.logger.error({ err: error, ...fields }, context);
    this.refuse("internal", "the ingress failed: resume to continue");
  }

  private onClose(code: number): void {
    const previous = this.state;
    this.state = "closed";
    this.backpressure.stop();
    this.handover.stop();
    if (previous !== "finalizing") this.dropPartial(`closed with ${code}`);
    this.conversation?.detach(this);
    recordSocketClose({
      code,
      sessionId: this.sessionId,
      state: previous,
      acked: this.acked,
      framesDroppedAfterStop: this.framesDroppedAfterStop,
      framesDroppedBeforeReady: this.early.take().length,
      conversationId: this.conversation?.id,
      goaway: this.handover.goawayReason,
      logger: this.logger,
      userLimits: this.deps.userLimits,
      store: this.deps.store,
    });
    this.deps.onClosed(this);
    this.resolveClosed();
  }
}
