/**
 * What a session owes the server, across its sockets: the audio in the replay buffer
 * (replay-buffer.ts) and the text messages held until an `ack` covers them, with the
 * positions and message numbers kept by the ledgers the server keeps too
 * (shared/ack-ledger.ts, shared/text-ledger.ts). With a store, both are written to it.
 * `write` waits here for room; an `ack` makes room.
 */
import { AckLedger, type AckVerdict } from "../shared/ack-ledger";
import { type Codec, MAX_OPUS_PACKET_BYTES, maxAudioFrameBytes, positionUnit } from "../shared/codecs";
import { HeldTexts } from "../shared/text-ledger";
import { notStored } from "./close-outcome";
import type { NotStored } from "./errors";
import { ReplayBuffer } from "./replay-buffer";
import { SOCKET_OPEN, type SocketLike } from "./socket";
import { type ConversationLog, type StoredConversation, StoreFullError } from "./store";

export interface OutboxConfig {
  readonly codec: Codec;
  readonly replayBufferBytes: number;
  readonly maxPendingMessages: number;
  readonly log?: ConversationLog;
  readonly restored?: StoredConversation;
}

/** The store refused audio the session wrote (the session stops on it). */
export class StoreWriteError extends Error {
  override name = "StoreWriteError";
}

/** Throws when `audio` is not one write the session takes: whole pcm16 samples, or one Opus packet. */
export function checkWrite(codec: Codec, audio: Uint8Array, capacityBytes: number): void {
  if (codec === "pcm16" && audio.length % 2 !== 0) {
    throw new RangeError("pcm16 audio holds whole 16-bit samples: write an even number of bytes");
  }
  if (codec === "opus" && (audio.length === 0 || audio.length > MAX_OPUS_PACKET_BYTES)) {
    throw new RangeError(`write one Opus packet of 1 to ${MAX_OPUS_PACKET_BYTES} bytes at a time`);
  }
  if (audio.length > capacityBytes)
    throw new RangeError(
      `this write (${audio.length} bytes) is larger than the whole replay buffer (${capacityBytes} bytes)`,
    );
}

export class Outbox {
  readonly buffer: ReplayBuffer;
  /** Positions: sent on the current socket, acknowledged. */
  readonly audio: AckLedger;
  readonly texts: HeldTexts<string>;
  private readonly maxFrameBytes: number;
  private roomWaiters: Array<() => void> = [];

  constructor(private readonly config: OutboxConfig) {
    this.buffer = new ReplayBuffer(positionUnit(config.codec), config.replayBufferBytes, config.log);
    if (config.restored) this.buffer.restore(config.restored.acked, config.restored.audio);
    this.audio = new AckLedger(config.restored?.acked ?? 0);
    this.texts = new HeldTexts(config.maxPendingMessages, config.restored?.messages ?? []);
    this.maxFrameBytes = maxAudioFrameBytes(config.codec);
  }

  /** Resolves at the next `ack` (or when the session stops): the buffer may have room then. */
  private untilRoom(): Promise<void> {
    return new Promise<void>((resolve) => this.roomWaiters.push(resolve));
  }

  /**
   * Holds a copy of `audio` once it fits (waiting for acks, or throwing `StoreFullError`
   * with `whenFull: "fail"`) and resolves once its store has it; a store's failure rejects
   * with a `StoreWriteError`. `checkStopped` throws if the session stopped while it waited.
   */
  async write(audio: Uint8Array, whenFull: "wait" | "fail", checkStopped: () => void): Promise<void> {
    checkWrite(this.config.codec, audio, this.buffer.capacityBytes);
    if (audio.length === 0) return;
    while (!this.buffer.fits(audio.length)) {
      if (whenFull === "fail") throw new StoreFullError(this.buffer.capacityBytes);
      await this.untilRoom();
      checkStopped();
    }
    try {
      // Copy: the app may reuse its buffer, and this one may be re-sent much later.
      this.buffer.append(audio.slice());
      await this.buffer.stored();
    } catch (error) {
      throw new StoreWriteError((error as Error).message);
    }
  }

  /** Sends on `socket` what is stored and not sent on it yet (audio counts as sent only once stored). */
  sendStored(socket: SocketLike | undefined): void {
    if (this.audio.carried < this.buffer.storedEnd) this.sendFrom(socket, this.audio.carried);
  }

  /**
   * A socket got its `ready` at the server's durable `position`: everything the server lacks
   * goes out on it, held text messages first, then the audio from that position on.
   */
  resend(socket: SocketLike | undefined, sessionId: string, position: number): void {
    this.audio.resume(position);
    this.acknowledge(position);
    this.texts.startSocket(sessionId);
    for (const json of this.texts.unsent()) this.sendText(socket, json);
    this.sendFrom(socket, position);
  }

  /** Holds a text message (false at capacity) and sends it on `socket` when there is one. */
  queueText(socket: SocketLike | undefined, json: string, send: boolean): boolean {
    if (!this.texts.hold(json)) return false;
    this.storeTexts();
    if (send) this.sendText(socket, json);
    return true;
  }

  /** An `ack` at `position` on a socket that carried audio up to `carried`. */
  ack(position: number, carried = this.audio.carried): AckVerdict {
    const verdict = this.audio.acknowledge(position, carried);
    if (verdict === "advanced") this.acknowledge(position);
    return verdict;
  }

  /** Audio up to `position` is durable: the buffer drops it, and texts sent before it are published. */
  acknowledge(position: number): void {
    this.audio.durable(position);
    this.buffer.acknowledge(this.audio.acked);
    if (this.texts.acknowledge(position)) this.storeTexts();
    this.wake();
  }

  /** `finalized` at `position`: everything is durable. */
  finalized(position: number): void {
    this.acknowledge(position);
    this.texts.clear();
  }

  /** What the server lacks of what this client holds, from its durable position on. */
  notStored(durable: number, includeTexts: boolean): NotStored {
    return notStored(this.buffer, includeTexts ? this.texts : undefined, durable, this.maxFrameBytes);
  }

  storeTexts(): void {
    this.config.log?.setMessages(this.texts.messages());
  }

  /** Every waiter for room wakes (an ack, or the session stopped). */
  wake(): void {
    for (const wake of this.roomWaiters.splice(0)) wake();
  }

  get maxFrame(): number {
    return this.maxFrameBytes;
  }

  private sendFrom(socket: SocketLike | undefined, position: number): void {
    if (socket === undefined || socket.readyState !== SOCKET_OPEN) return;
    for (const frame of this.buffer.framesFrom(position, this.maxFrameBytes)) {
      socket.send(frame);
      this.audio.carry(this.buffer.unitsOf(frame));
    }
  }

  /** Sends a held message on the current (open) socket, noting where it went. */
  private sendText(socket: SocketLike | undefined, json: string): void {
    this.texts.sent(json, this.audio.carried);
    if (socket !== undefined && socket.readyState === SOCKET_OPEN) socket.send(json);
  }
}
