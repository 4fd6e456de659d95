/**
 * The ingress's resource limits, and the memory bound per socket they imply.
 *
 * What one socket can hold:
 *   - the chunk being filled: at most one chunk of audio;
 *   - complete chunks waiting for Pub/Sub: at most `maxChunksInFlightPerSocket` before the
 *     socket stops being read (TCP then slows the client), plus what ws had already read;
 *   - text messages waiting for Pub/Sub: under `maxEventBytesInFlightPerSocket`, plus one message;
 *   - one WebSocket message being parsed: at most `maxMessageBytes`;
 *   - audio received before `ready`: at most `maxQueuedBytesBeforeReady`.
 * A socket that stays unread for `overloadCloseMs` is closed with 1013, so nothing is
 * buffered without bound, per socket or for the process (`maxInFlightBytes`).
 */
import { type Codec, chunkSizeUnits, MAX_OPUS_PACKET_BYTES, type SampleRate } from "../../shared/audio-format";
import { MAX_TEXT_FRAME_BYTES } from "../../shared/protocol";

export interface IngressLimits {
  /** Complete chunks of one socket waiting for Pub/Sub; at this many the socket is not read. */
  readonly maxChunksInFlightPerSocket: number;
  /**
   * Text-message bytes of one socket waiting for Pub/Sub; at this many the socket is not read
   * (text counts like audio: a client flooding large text frames is slowed, then 1013).
   */
  readonly maxEventBytesInFlightPerSocket: number;
  /** Bytes of chunks and text messages waiting for Pub/Sub in the whole process; above it, sockets with something in flight are not read. */
  readonly maxInFlightBytes: number;
  /** A socket left unread this long (the pipeline cannot keep up) is closed with 1013. */
  readonly overloadCloseMs: number;
  /** Open sockets per process; one more is closed with 1013. */
  readonly maxConnections: number;
  /** Largest WebSocket message ws will buffer (binary frames are further limited per codec). */
  readonly maxMessageBytes: number;
  /** Frames a client sends before `ready` are held up to this many bytes, then the socket is not read until `ready`. */
  readonly maxQueuedBytesBeforeReady: number;
  /**
   * On shutdown, how long a socket has after its `goaway` for its client to move (drain.ts),
   * before it is drained and closed with 1012. Within Cloud Run's 10 s of grace with
   * `drainTimeoutMs`'s share.
   */
  readonly drainGoawayMs: number;
  /** On shutdown, how long sockets get to make their complete chunks durable. */
  readonly drainTimeoutMs: number;
  /** How long a new socket waits for the socket it supersedes on this instance to finish its publishes. */
  readonly supersedeWaitMs: number;
  /** Ping period; a socket that did not answer the previous ping is dropped. */
  readonly pingIntervalMs: number;
  /** Orphan sweep period (orphan-sweeper.ts); undefined: half the idle timeout, at least 5 s. */
  readonly orphanSweepIntervalMs: number | undefined;
  /**
   * How much longer than the idle timeout an in-progress record must go unwritten before a
   * sweep finalizes it, and how long a `finalizing` record before its finalize event is
   * published again. It covers clocks and the audio of a chunk not yet complete.
   */
  readonly orphanGraceMs: number;
  /** Conversation records one sweep reads per status. */
  readonly orphanSweepBatch: number;
  /**
   * How long a socket's lease counts toward its user's live sockets without renewal
   * (user-limits.ts): a socket of a killed instance stops counting after at most this long.
   */
  readonly socketLeaseTtlMs: number;
}

export const DEFAULT_LIMITS: IngressLimits = {
  maxChunksInFlightPerSocket: 4,
  maxEventBytesInFlightPerSocket: 4 * MAX_TEXT_FRAME_BYTES,
  maxInFlightBytes: 256 * 1024 * 1024,
  overloadCloseMs: 10_000,
  maxConnections: 10_000,
  maxMessageBytes: MAX_TEXT_FRAME_BYTES,
  maxQueuedBytesBeforeReady: 256 * 1024,
  drainGoawayMs: 4_000,
  drainTimeoutMs: 5_000,
  supersedeWaitMs: 5_000,
  pingIntervalMs: 30_000,
  orphanSweepIntervalMs: undefined,
  orphanGraceMs: 30_000,
  orphanSweepBatch: 200,
  socketLeaseTtlMs: 90_000,
};

/** The orphan sweep period: the limit when set, else half the idle timeout, at least 5 s. */
export function orphanSweepIntervalMs(limits: IngressLimits, idleTimeoutMs: number): number {
  return limits.orphanSweepIntervalMs ?? Math.max(5_000, Math.round(idleTimeoutMs / 2));
}

/** Bytes in one chunk of the format (Opus: every packet at the protocol's maximum, plus framing). */
export function maxChunkBytes(codec: Codec, sampleRate: SampleRate, chunkSeconds: number): number {
  const units = chunkSizeUnits(codec, sampleRate, chunkSeconds);
  return codec === "pcm16" ? units : units * (MAX_OPUS_PACKET_BYTES + 2);
}

/**
 * Upper bound of the audio and message bytes one socket holds, for a format. (ws's read
 * buffer, at most one 64 KiB socket read, is included; JavaScript object overhead is not:
 * `npm run bench` measures that for idle sockets.)
 */
export function memoryBoundPerSocket(
  limits: IngressLimits,
  codec: Codec,
  sampleRate: SampleRate,
  chunkSeconds: number,
): number {
  const chunk = maxChunkBytes(codec, sampleRate, chunkSeconds);
  const socketRead = 64 * 1024;
  return (
    chunk * (1 + limits.maxChunksInFlightPerSocket) +
    limits.maxEventBytesInFlightPerSocket +
    2 * limits.maxMessageBytes +
    Math.max(limits.maxQueuedBytesBeforeReady, socketRead)
  );
}
