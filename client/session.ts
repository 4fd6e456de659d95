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
 *   re-sent from `ready.position`. Text messages are held until an `ack` covers them (see
 *   shared/protocol.ts) and re-sent after a reconnect otherwise.
 * - On a close code whose action is not "resume" (4409 wrong environment, 4403, 4410, ...)
 *   the session stops and reports a `TetherError`; it never tries another URL.
 * - With a store (store.ts) the replay buffer and the held text messages are written to it
 *   too: audio is sent only once stored, and a session can be rebuilt from a store after
 *   the app restarted (`restored`), continuing at the server's `ready.position`.
 */
import { type Codec, MAX_OPUS_PACKET_BYTES, type PositionUnit, positionUnit, type SampleRate } from "../shared/codecs";
import type { SegmentInput } from "../shared/messages";
import {
  clientActionForClose,
  ERROR_CODES,
  type ErrorMessage,
  errorCodeForClose,
  type GoawayMessage,
  listenQueryString,
  listenSubprotocols,
  maxAudioFrameBytes,
  type ReadyMessage,
  type ServerMessage,
  serverMessageSchema,
} from "../shared/protocol";
import { type BackoffPolicy, backoffDelay } from "./backoff";
import { TypedEmitter } from "./emitter";
import { type NotStored, TetherError } from "./errors";
import { RetiringSockets } from "./handover";
import { checkReady, type ReadyStage } from "./ready-check";
import { ReplayBuffer } from "./replay-buffer";
import { type AuthVia, SOCKET_OPEN, type SocketFactory, type SocketLike } from "./socket";
import { type ConversationLog, type StoredConversation, StoreFullError } from "./store";

export interface ReadyEvent {
  readonly environment: string;
  readonly conversationId: string;
  readonly sessionId: string;
  readonly position: number;
  /** False for the first socket of this session object. */
  readonly resumed: boolean;
  /** This socket replaced one the server sent `goaway` (make before break), not a lost one. */
  readonly handover: boolean;
}

export interface GoawayEvent {
  readonly reason: GoawayMessage["reason"];
  readonly closeInMs: number;
  /** False when the session stays on the socket (its `finalize` is under way there). */
  readonly handingOver: boolean;
}

/** A socket the session moved away from after its `goaway` has closed (4001 or 1012 expected). */
export interface RetiredEvent {
  readonly closeCode: number;
  readonly reason: string;
}

export interface ReconnectingEvent {
  readonly attempt: number;
  readonly delayMs: number;
  readonly closeCode: number;
  readonly reason: string;
}

export interface SessionStats {
  /** Units written by the app. */
  readonly written: number;
  /** Units sent on the current socket (the position after the last one sent). */
  readonly sent: number;
  /** Units the server acknowledged as durable. */
  readonly acked: number;
  readonly reconnects: number;
  /** Moves to a new socket after a `goaway` (not counted in `reconnects`). */
  readonly handovers: number;
  readonly bufferedBytes: number;
}

export interface SessionEvents extends Record<string, unknown> {
  ready: ReadyEvent;
  ack: { readonly position: number };
  reconnecting: ReconnectingEvent;
  goaway: GoawayEvent;
  retired: RetiredEvent;
  finalized: { readonly conversationId: string; readonly position: number };
  /** Terminal: the session stopped. */
  error: TetherError;
}

export interface SessionConfig {
  readonly url: string;
  readonly token: () => Promise<string>;
  readonly authVia: AuthVia;
  readonly codec: Codec;
  readonly sampleRate: SampleRate;
  readonly conversationId: string | undefined;
  readonly resumeToken: string | undefined;
  readonly backoff: BackoffPolicy;
  readonly maxReconnectAttempts: number;
  /** A socket without `ready` after this long is given up (a failed attempt). */
  readonly readyTimeoutMs: number;
  readonly replayBufferBytes: number;
  readonly maxPendingMessages: number;
  readonly createSocket: SocketFactory;
  readonly random: () => number;
  /** The store record backing the replay buffer and held text messages; none = memory only. */
  readonly log?: ConversationLog;
  /** What the store held after a restart: the session continues it. */
  readonly restored?: StoredConversation;
  /** At the replay buffer's cap, `write` waits for acks (default) or throws `StoreFullError`. */
  readonly whenFull?: "wait" | "fail";
}

/** How long a socket that closed before `ready` may still take the conversation over at the server. */
const ABANDONED_ATTEMPT_WINDOW_MS = 60_000;

type State = "connecting" | "open" | "waiting" | "finalized" | "failed" | "closed";

/** A text message held until an `ack` covers it. */
interface HeldMessage {
  readonly json: string;
  /** The audio position on the current socket when this message was sent there; undefined = not sent on it. */
  sentOnSocketAt: number | undefined;
  /**
   * Every socket it was sent on, with its number among that socket's text messages (1..n):
   * a 4410's `events_recorded` says, per socket, how many of them the conversation stored.
   */
  readonly sends: Array<{ readonly sessionId: string; readonly seq: number }>;
}

export interface FinalizeResult {
  readonly conversationId: string;
  readonly position: number;
}

export class TetherSession extends TypedEmitter<SessionEvents> {
  /** The ingress URL, pinned for the life of the session. */
  readonly url: string;
  readonly codec: Codec;
  readonly sampleRate: SampleRate;
  readonly positionUnit: PositionUnit;
  // The conversation: one for the life of this object, across all its sockets.
  /** The environment the first `ready` named; every later socket must reach it too. */
  private pinnedEnvironment: string | undefined;
  /** The conversation's id: the one the app asked for, then the one the first `ready` named. */
  private pinnedConversationId: string | undefined;
  /** The resume token of the latest `ready` (or the one the app passed in). */
  private latestResumeToken: string | undefined;
  /** Units per chunk, as the server's `ready` announced. */
  private serverChunkSize: number | undefined;
  private state: State = "connecting";
  private readonly buffer: ReplayBuffer;
  private ackedPosition = 0;
  /** Text messages held until an `ack` covers them, in the order they were queued. */
  private heldMessages: HeldMessage[] = [];
  /** Some socket of this object received `ready`: a later `ready` is a reconnect. */
  private everReady = false;
  private reconnectCount = 0;
  private handoverCount = 0;
  /** A `goaway` came and no `ready` since: the next `ready` completes a handover. */
  private handingOver = false;
  /** The current socket was sent `goaway`; its close (4001 or 1012) is expected. */
  private socketWarned = false;
  private warnedCloseInMs = 0;
  /** The socket opened to replace the warned one, until its `ready`. */
  private nextSocket: SocketLike | undefined;
  private nextReadyTimer: ReturnType<typeof setTimeout> | undefined;
  private handoverTimer: ReturnType<typeof setTimeout> | undefined;
  private handoverAttempts = 0;
  /** Sockets moved away from after their `goaway`, still delivering acks (handover.ts). */
  private readonly retiring = new RetiringSockets();
  /** Connection attempts that failed since the last `ready`. */
  private failedAttempts = 0;
  /** A new access token was fetched since the last `ready` (once only). */
  private reauthenticated = false;
  /**
   * When each socket that closed before its `ready` was lost. The server may still be
   * opening it (its takeover of the conversation can land after a newer socket's), and a
   * takeover by one of our own lost attempts is not a newer client: see `onSocketClose`.
   */
  private abandonedAttemptsAt: number[] = [];
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  /** Gives the current socket up if `ready` has not come in time (a connection that hangs). */
  private readyTimer: ReturnType<typeof setTimeout> | undefined;
  private finalizeRequested = false;
  private finalizeWaiters: Array<{ resolve: (r: FinalizeResult) => void; reject: (e: TetherError) => void }> = [];
  private roomWaiters: Array<() => void> = [];
  private terminal: TetherError | undefined;
  /** Settles the promise `start()` returned, on the first `ready` (or terminal error). */
  private startWaiter: { resolve: () => void; reject: (e: TetherError) => void } | undefined;

  // The current socket: replaced on every reconnect.
  private socket: SocketLike | undefined;
  /** The server's session id of the current socket. */
  private socketSessionId: string | undefined;
  /** The position after the last unit sent on the current socket. */
  private socketSentPosition = 0;
  /** Text messages sent on the current socket (the server numbers them the same way). */
  private socketMessagesSent = 0;
  /** The `error` message the server sent on the current socket before closing it. */
  private socketError: ErrorMessage | undefined;

  constructor(private readonly config: SessionConfig) {
    super();
    this.url = config.url;
    this.codec = config.codec;
    this.sampleRate = config.sampleRate;
    this.positionUnit = positionUnit(config.codec);
    this.pinnedConversationId = config.conversationId;
    this.latestResumeToken = config.resumeToken;
    this.buffer = new ReplayBuffer(this.positionUnit, config.replayBufferBytes, config.log);
    if (config.restored) {
      this.buffer.restore(config.restored.acked, config.restored.audio);
      this.ackedPosition = config.restored.acked;
      this.heldMessages = config.restored.messages.map((json) => ({ json, sentOnSocketAt: undefined, sends: [] }));
    }
  }

  /** The environment the server reported in `ready` (the "you are on staging" banner reads this). */
  get environment(): string {
    if (this.pinnedEnvironment === undefined) throw new Error("the session has not received `ready` yet");
    return this.pinnedEnvironment;
  }

  get conversationId(): string {
    if (this.pinnedConversationId === undefined) throw new Error("the session has not received `ready` yet");
    return this.pinnedConversationId;
  }

  /** Session id of the current socket. */
  get sessionId(): string | undefined {
    return this.socketSessionId;
  }

  /** The latest resume token: keep it to resume this conversation after an app restart. */
  get resumeToken(): string | undefined {
    return this.latestResumeToken;
  }

  get chunkSize(): number | undefined {
    return this.serverChunkSize;
  }

  get stats(): SessionStats {
    return {
      written: this.buffer.end,
      sent: this.socketSentPosition,
      acked: this.ackedPosition,
      reconnects: this.reconnectCount,
      handovers: this.handoverCount,
      bufferedBytes: this.buffer.bytes,
    };
  }

  /** The terminal error, once the session stopped on one. */
  get error(): TetherError | undefined {
    return this.terminal;
  }

  /** Opens the first socket; resolves on its `ready` (after retries), rejects on a terminal error. */
  start(): Promise<void> {
    const started = new Promise<void>((resolve, reject) => {
      this.startWaiter = { resolve, reject };
    });
    void this.openSocket();
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
    if (this.codec === "pcm16" && audio.length % 2 !== 0) {
      throw new RangeError("pcm16 audio holds whole 16-bit samples: write an even number of bytes");
    }
    if (this.codec === "opus" && (audio.length === 0 || audio.length > MAX_OPUS_PACKET_BYTES)) {
      throw new RangeError(`write one Opus packet of 1 to ${MAX_OPUS_PACKET_BYTES} bytes at a time`);
    }
    if (audio.length === 0) return;
    if (audio.length > this.buffer.capacityBytes)
      throw new RangeError(
        `this write (${audio.length} bytes) is larger than the whole replay buffer (${this.buffer.capacityBytes} bytes)`,
      );
    while (!this.buffer.fits(audio.length)) {
      if (this.config.whenFull === "fail") throw new StoreFullError(this.buffer.capacityBytes);
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
      this.throwIfStopped();
    }
    // Copy: the app may reuse its buffer, and this one may be re-sent much later.
    const copy = audio.slice();
    try {
      this.buffer.append(copy);
      await this.buffer.stored();
    } catch (error) {
      const failure = new TetherError("storage_failed", `the store refused audio: ${(error as Error).message}`);
      this.fail(failure, true);
      throw failure;
    }
    // Audio counts as sent only once stored: send whatever is stored and not sent yet.
    if (this.state === "open" && this.socketSentPosition < this.buffer.storedEnd)
      this.sendFrames(this.buffer.framesFrom(this.socketSentPosition, this.maxFrame()));
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
    const result = new Promise<FinalizeResult>((resolve, reject) => {
      if (this.terminal) reject(this.terminal);
      else this.finalizeWaiters.push({ resolve, reject });
    });
    if (!this.finalizeRequested && !this.terminal) {
      this.finalizeRequested = true;
      if (this.state === "open") this.sendRaw(JSON.stringify({ type: "finalize" }));
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
    this.socket?.close(1000, "client closed");
  }

  /** Drops the current socket the way a network failure would; the session resumes on its own. */
  simulateDisconnect(): void {
    const socket = this.socket;
    if (socket === undefined || socket.readyState !== SOCKET_OPEN) return;
    if (socket.terminate) socket.terminate();
    else socket.close(4000, "simulated disconnect");
  }

  // ------------------------------------------------------------ sockets

  /**
   * Opens a socket: the current one (after a loss), or with `handover` the next one, while
   * the current socket, warned by `goaway`, still carries the audio until the next one's
   * `ready` (make before break).
   */
  private async openSocket(handover = false): Promise<void> {
    if (!handover) {
      this.state = "connecting";
      this.socketError = undefined;
    }
    let accessToken: string;
    try {
      accessToken = await this.config.token();
    } catch (error) {
      this.fail(new TetherError("unauthorized", `could not obtain an access token: ${(error as Error).message}`));
      return;
    }
    if (this.isStopped()) return;
    const query = listenQueryString({
      codec: this.codec,
      sampleRate: this.sampleRate,
      conversationId: this.config.conversationId,
      resumeToken: this.latestResumeToken,
      accessToken: this.config.authVia === "query" ? accessToken : undefined,
    });
    const headers: Record<string, string> =
      this.config.authVia === "header" ? { authorization: `Bearer ${accessToken}` } : {};
    const protocols = this.config.authVia === "protocol" ? listenSubprotocols(accessToken) : undefined;
    const target = `${this.url}${this.url.includes("?") ? "&" : "?"}${query}`;
    let socket: SocketLike;
    try {
      socket = this.config.createSocket(target, headers, protocols);
    } catch (error) {
      this.fail(
        new TetherError("protocol_violation", `cannot open a socket to ${this.url}: ${(error as Error).message}`),
      );
      return;
    }
    if (handover) this.nextSocket = socket;
    else this.socket = socket;
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event) => {
      if (this.socket === socket) this.onServerMessage(event.data);
      else if (this.nextSocket === socket) this.onNextSocketMessage(socket, event.data);
      else this.onRetiringMessage(socket, event.data);
    };
    socket.onclose = (event) => {
      if (this.socket === socket) this.onSocketClose(event.code, event.reason);
      else if (this.nextSocket === socket) this.onNextSocketLost(socket);
      else if (this.retiring.closed(socket)) this.emit("retired", { closeCode: event.code, reason: event.reason });
    };
    socket.onerror = () => undefined; // a close event follows and carries the outcome
    if (handover) this.armNextReadyTimer(socket);
    else this.armReadyTimer(socket);
  }

  /**
   * A connection can be accepted and then never answered (an instance that died holding it,
   * a front end that hangs): without `ready` in time, it is a lost attempt.
   */
  private armReadyTimer(socket: SocketLike): void {
    this.clearReadyTimer();
    this.readyTimer = setTimeout(() => {
      this.readyTimer = undefined;
      if (this.socket !== socket || this.state !== "connecting") return;
      const reason = `no ready within ${this.config.readyTimeoutMs} ms`;
      this.socket = undefined; // its own close event, whenever it comes, is ignored
      try {
        socket.close(4000, reason);
      } catch {
        // closing a socket that never opened may throw on some platforms; it is dropped either way
      }
      this.onSocketClose(1006, reason);
    }, this.config.readyTimeoutMs);
  }

  private clearReadyTimer(): void {
    if (this.readyTimer !== undefined) clearTimeout(this.readyTimer);
    this.readyTimer = undefined;
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
    const handingOver = this.state === "open" && !this.finalizeRequested && !this.socketWarned;
    this.emit("goaway", { reason: message.reason, closeInMs: message.close_in_ms, handingOver });
    if (!handingOver) return;
    this.socketWarned = true;
    this.warnedCloseInMs = message.close_in_ms;
    this.handingOver = true;
    this.handoverAttempts = 0;
    void this.openSocket(true);
  }

  /** The session stopped or finalized: every socket but the current one goes. */
  private endHandover(): void {
    this.retiring.closeAll();
    this.clearNextReadyTimer();
    if (this.handoverTimer !== undefined) clearTimeout(this.handoverTimer);
    this.handoverTimer = undefined;
    const next = this.nextSocket;
    this.nextSocket = undefined;
    try {
      next?.close(1000, "session over");
    } catch {
      // dropped either way
    }
  }

  private onNextSocketMessage(socket: SocketLike, data: unknown): void {
    const message = this.parseServerMessage(data);
    if (message?.type !== "ready") return; // an error is followed by its close
    this.promoteNextSocket(socket);
    this.onReady(message);
  }

  /** The next socket becomes the current one; the warned one retires, still delivering acks. */
  private promoteNextSocket(next: SocketLike): void {
    const warned = this.socket;
    if (warned !== undefined) this.retiring.add(warned, this.socketSentPosition, this.warnedCloseInMs);
    this.socket = next;
    this.nextSocket = undefined;
    this.clearNextReadyTimer();
    this.socketWarned = false;
    this.socketError = undefined;
    // Text messages sent on the warned socket are sent again on this one (always safe).
    for (const held of this.heldMessages) held.sentOnSocketAt = undefined;
  }

  /** The next socket was lost before its `ready`: try again while the warned one still works. */
  private onNextSocketLost(socket: SocketLike): void {
    if (this.nextSocket !== socket) return;
    this.nextSocket = undefined;
    this.clearNextReadyTimer();
    if (this.isStopped() || !this.socketWarned) return;
    const delayMs = backoffDelay(this.config.backoff, this.handoverAttempts, this.config.random, false);
    this.handoverAttempts += 1;
    this.handoverTimer = setTimeout(() => {
      this.handoverTimer = undefined;
      if (!this.isStopped() && this.socketWarned && this.nextSocket === undefined && this.state === "open")
        void this.openSocket(true);
    }, delayMs);
  }

  private armNextReadyTimer(socket: SocketLike): void {
    this.clearNextReadyTimer();
    this.nextReadyTimer = setTimeout(() => {
      this.nextReadyTimer = undefined;
      if (this.nextSocket !== socket) return;
      try {
        socket.close(4000, `no ready within ${this.config.readyTimeoutMs} ms`);
      } catch {
        // dropped either way
      }
      this.onNextSocketLost(socket);
    }, this.config.readyTimeoutMs);
  }

  private clearNextReadyTimer(): void {
    if (this.nextReadyTimer !== undefined) clearTimeout(this.nextReadyTimer);
    this.nextReadyTimer = undefined;
  }

  /**
   * The warned socket closed before the next one's `ready`: the next one, still connecting,
   * becomes the current socket. False when there is none (the close is handled as a loss).
   */
  private continueOnNextSocket(code: number, reason: string): boolean {
    const next = this.nextSocket;
    if (next === undefined) return false;
    this.emit("retired", { closeCode: code, reason });
    this.socket = next;
    this.nextSocket = undefined;
    this.clearNextReadyTimer();
    this.socketWarned = false;
    this.socketError = undefined;
    this.state = "connecting";
    for (const held of this.heldMessages) held.sentOnSocketAt = undefined;
    this.armReadyTimer(next);
    return true;
  }

  private parseServerMessage(data: unknown): ServerMessage | undefined {
    if (typeof data !== "string") return undefined; // the server sends text only
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      this.violation("the server sent a text frame that is not JSON");
      return undefined;
    }
    const parsed = serverMessageSchema.safeParse(json);
    if (!parsed.success) {
      this.violation(`the server sent a malformed message: ${parsed.error.issues[0]?.message}`);
      return undefined;
    }
    return parsed.data;
  }

  /** A socket the session moved away from still acknowledges what was sent on it. */
  private onRetiringMessage(socket: SocketLike, data: unknown): void {
    const sent = this.retiring.sentPosition(socket);
    if (sent === undefined) return;
    const message = this.parseServerMessage(data);
    if (message?.type === "ack") this.onAck(message.position, sent);
  }

  private onServerMessage(data: unknown): void {
    const message = this.parseServerMessage(data);
    if (message === undefined) return;
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
        this.socketError = message;
        return;
      case "goaway":
        this.onGoaway(message);
        return;
    }
  }

  private onReady(ready: ReadyMessage): void {
    this.clearReadyTimer();
    const stage: ReadyStage = this.everReady ? "reconnect" : this.config.restored ? "restored" : "first";
    const verdict = checkReady(ready, {
      stage,
      environment: this.pinnedEnvironment,
      conversationId: this.pinnedConversationId,
      codec: this.codec,
      positionUnit: this.positionUnit,
      held: { start: this.buffer.start, end: this.buffer.end, capacityBytes: this.buffer.capacityBytes },
      acked: this.ackedPosition,
    });
    if (!verdict.ok) {
      this.fail(verdict.error, true);
      return;
    }
    if (verdict.rebase) this.buffer.rebase(ready.position);
    if (stage === "first") this.ackedPosition = ready.position;
    const resumed = stage === "reconnect";
    const handover = resumed && this.handingOver;
    this.everReady = true;
    this.handingOver = false;
    if (handover) this.handoverCount += 1;
    else if (resumed) this.reconnectCount += 1;
    this.pinnedEnvironment = ready.environment;
    this.pinnedConversationId = ready.conversation_id;
    this.socketSessionId = ready.session_id;
    this.latestResumeToken = ready.resume_token;
    this.serverChunkSize = ready.chunk_size;
    this.config.log?.setConversation(ready.conversation_id, ready.resume_token);
    this.failedAttempts = 0;
    this.reauthenticated = false;
    this.state = "open";
    this.acknowledge(ready.position);
    // Re-send what the server does not have: held text messages, audio from its position, finalize.
    this.socketSentPosition = ready.position;
    this.socketMessagesSent = 0;
    for (const message of this.heldMessages) this.sendMessage(message);
    this.sendFrames(this.buffer.framesFrom(ready.position, this.maxFrame()));
    if (this.finalizeRequested) this.sendRaw(JSON.stringify({ type: "finalize" }));
    this.emit("ready", {
      environment: ready.environment,
      conversationId: ready.conversation_id,
      sessionId: ready.session_id,
      position: ready.position,
      resumed,
      handover,
    });
    const starting = this.startWaiter;
    this.startWaiter = undefined;
    starting?.resolve();
  }

  private onAck(position: number, sentOnSocket = this.socketSentPosition): void {
    if (position > sentOnSocket) {
      this.violation(`the server acknowledged ${position}, beyond the ${sentOnSocket} units sent`);
      return;
    }
    if (position <= this.ackedPosition) return;
    this.acknowledge(position);
    this.emit("ack", { position });
  }

  private acknowledge(position: number): void {
    this.ackedPosition = Math.max(this.ackedPosition, position);
    this.buffer.acknowledge(this.ackedPosition);
    // Text messages sent before audio that is now acknowledged are published (protocol.ts).
    const before = this.heldMessages.length;
    this.heldMessages = this.heldMessages.filter((m) => m.sentOnSocketAt === undefined || m.sentOnSocketAt >= position);
    if (this.heldMessages.length !== before) this.storeMessages();
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const wake of waiters) wake();
  }

  /** What the server lacks of what this client holds, from its durable position on. */
  private notStored(durable: number, includeMessages: boolean): NotStored {
    const from = Math.max(durable, this.buffer.start);
    return {
      ...(from < this.buffer.end
        ? { audio: { from, to: this.buffer.end, bytes: this.buffer.framesFrom(from, this.maxFrame()) } }
        : {}),
      messages: includeMessages ? this.heldMessages.map((m) => JSON.parse(m.json) as unknown) : [],
    };
  }

  private onFinalized(conversationId: string, position: number): void {
    if (position !== this.buffer.end) {
      this.fail(
        new TetherError(
          "position_mismatch",
          `the server finalized at ${position}, but ${this.buffer.end} units were written: units [${position}, ${this.buffer.end}) are not stored`,
          { notStored: this.notStored(position, false) },
        ),
        true,
      );
      return;
    }
    this.acknowledge(position);
    this.heldMessages = [];
    this.state = "finalized";
    this.endHandover();
    const result = { conversationId, position };
    const settle = () => {
      this.emit("finalized", result);
      for (const waiter of this.finalizeWaiters.splice(0)) waiter.resolve(result);
      const starting = this.startWaiter; // a restored session may learn on its first socket that it is finalized
      this.startWaiter = undefined;
      starting?.resolve();
    };
    // Everything is stored server-side: the local record goes (a failure leaves a record that resumes as finalized).
    const removed = this.config.log?.remove();
    if (removed) removed.then(settle, settle);
    else settle();
  }

  private onSocketClose(code: number, reason: string): void {
    this.socket = undefined;
    this.clearReadyTimer();
    if (this.state === "finalized" || this.state === "closed" || this.state === "failed") return;
    const warned = this.socketWarned;
    if (warned && this.continueOnNextSocket(code, reason)) return;
    this.socketWarned = false;
    if (this.state === "connecting") this.abandonedAttemptsAt.push(Date.now());
    this.state = "waiting";
    // Anything sent on the lost socket and not acknowledged must be sent again.
    for (const message of this.heldMessages) message.sentOnSocketAt = undefined;
    const error = this.socketError;
    const action = clientActionForClose(code);
    if (warned) {
      // Warned by `goaway`, and its next socket was lost: a plain reconnect now.
      this.handingOver = false;
      this.scheduleReconnect(code, reason, false);
      return;
    }
    if ((error?.code ?? errorCodeForClose(code)) === "superseded" && this.supersededByOwnAttempt()) {
      // Not a newer client: an attempt of ours that we gave up on reached the server late and
      // took the conversation from this socket. Nobody holds it now; resume it.
      this.scheduleReconnect(code, reason, false);
      return;
    }
    switch (action) {
      case "resume":
      case "resume_after_delay":
        this.scheduleReconnect(code, reason, action === "resume_after_delay");
        return;
      case "reauthenticate":
        if (!this.reauthenticated && this.everReady) {
          // A token that expired mid-conversation: fetch a fresh one once, right away.
          this.reauthenticated = true;
          void this.openSocket();
          return;
        }
        break;
      case "start_new_conversation": {
        // PROTOCOL section 2, 4410: finalized for this client only if the server holds
        // everything it holds and no text message awaits an acknowledgement. A held message
        // that `events_recorded` counts on one of the sockets it went out on is stored.
        const durable = error?.durable_position ?? error?.final_position;
        if (error?.code === "conversation_finalized" && durable !== undefined) {
          const recorded = error.events_recorded ?? {};
          const before = this.heldMessages.length;
          this.heldMessages = this.heldMessages.filter(
            (m) => !m.sends.some((sent) => sent.seq <= (recorded[sent.sessionId] ?? 0)),
          );
          if (this.heldMessages.length !== before) this.storeMessages();
          // A deleted conversation's audio is gone: never report it as stored.
          const conversationId = this.pinnedConversationId;
          if (
            error.finalize_reason !== "deleted" &&
            conversationId !== undefined &&
            durable >= this.buffer.end &&
            this.heldMessages.length === 0 &&
            error.final_position === durable
          ) {
            this.onFinalized(conversationId, durable);
            return;
          }
          const notStored = this.notStored(durable, true);
          const audio = notStored.audio ? `audio units [${notStored.audio.from}, ${notStored.audio.to})` : undefined;
          const texts = notStored.messages.length > 0 ? `${notStored.messages.length} text message(s)` : undefined;
          this.fail(
            new TetherError(
              "conversation_finalized",
              `the conversation was finalized (${error.finalize_reason ?? "unknown reason"}) at ${durable}; not stored: ${[audio, texts].filter(Boolean).join(" and ")}. Start a new conversation for them`,
              {
                closeCode: code,
                notStored,
                durablePosition: durable,
                ...(error.finalize_reason !== undefined ? { finalizeReason: error.finalize_reason } : {}),
              },
            ),
          );
          return;
        }
        break;
      }
      default:
        break;
    }
    const announced = ERROR_CODES.find((known) => known === error?.code);
    const tetherCode = announced ?? errorCodeForClose(code) ?? "protocol_violation";
    const message =
      error?.message ??
      (code === 1000 ? "the server closed the socket without `finalized`" : `socket closed with ${code} ${reason}`);
    this.fail(
      new TetherError(tetherCode, message, {
        closeCode: code,
        ...(error?.expected_environment !== undefined ? { expectedEnvironment: error.expected_environment } : {}),
        ...(error?.environment !== undefined ? { environment: error.environment } : {}),
      }),
    );
  }

  /**
   * Whether a 4001 on our newest socket can be explained by one of our own abandoned
   * attempts (each explains one). An attempt lost longer than `ABANDONED_ATTEMPT_WINDOW_MS`
   * ago has landed or failed by now: it explains nothing, and a 4001 then means another
   * client resumed the conversation (the session stops, as before).
   */
  private supersededByOwnAttempt(): boolean {
    const now = Date.now();
    this.abandonedAttemptsAt = this.abandonedAttemptsAt.filter((at) => now - at < ABANDONED_ATTEMPT_WINDOW_MS);
    return this.abandonedAttemptsAt.shift() !== undefined;
  }

  private scheduleReconnect(closeCode: number, reason: string, overloaded: boolean): void {
    if (this.failedAttempts >= this.config.maxReconnectAttempts) {
      this.fail(
        new TetherError("unreachable", `gave up after ${this.failedAttempts} failed attempts to reach ${this.url}`, {
          closeCode,
        }),
      );
      return;
    }
    const delayMs = backoffDelay(this.config.backoff, this.failedAttempts, this.config.random, overloaded);
    this.failedAttempts += 1;
    this.emit("reconnecting", { attempt: this.failedAttempts, delayMs, closeCode, reason });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.isStopped()) void this.openSocket();
    }, delayMs);
  }

  // ------------------------------------------------------------ sending

  private maxFrame(): number {
    return maxAudioFrameBytes(this.codec);
  }

  /** Sends frames that continue exactly at `sentPosition`. */
  private sendFrames(frames: readonly Uint8Array[]): void {
    const socket = this.socket;
    if (socket === undefined || socket.readyState !== SOCKET_OPEN) return;
    for (const frame of frames) {
      socket.send(frame);
      this.socketSentPosition += this.buffer.unitsOf(frame);
    }
  }

  private sendRaw(text: string): void {
    const socket = this.socket;
    if (socket !== undefined && socket.readyState === SOCKET_OPEN) socket.send(text);
  }

  private queueMessage(message: Record<string, unknown>): void {
    this.throwIfStopped();
    if (this.finalizeRequested) throw new TetherError("closed", "the session is finalizing: no more messages");
    if (this.heldMessages.length >= this.config.maxPendingMessages) {
      throw new RangeError(
        `${this.heldMessages.length} text messages await an acknowledgement: send audio, or fewer messages`,
      );
    }
    const held: HeldMessage = { json: JSON.stringify(message), sentOnSocketAt: undefined, sends: [] };
    this.heldMessages.push(held);
    this.storeMessages();
    if (this.state === "open") this.sendMessage(held);
  }

  /** Sends a held message on the current (open) socket, noting where it went. */
  private sendMessage(message: HeldMessage): void {
    message.sentOnSocketAt = this.socketSentPosition;
    this.sendRaw(message.json);
    this.socketMessagesSent += 1;
    if (this.socketSessionId !== undefined)
      message.sends.push({ sessionId: this.socketSessionId, seq: this.socketMessagesSent });
  }

  private storeMessages(): void {
    this.config.log?.setMessages(this.heldMessages.map((m) => m.json));
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
    if (closeSocket) this.socket?.close(1000, error.code);
    this.emit("error", error);
  }

  private stop(error: TetherError, state: "failed" | "closed"): void {
    this.state = state;
    this.terminal = error;
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.clearReadyTimer();
    this.endHandover();
    for (const waiter of this.finalizeWaiters.splice(0)) waiter.reject(error);
    for (const wake of this.roomWaiters.splice(0)) wake();
    const starting = this.startWaiter;
    this.startWaiter = undefined;
    starting?.reject(error);
  }
}
