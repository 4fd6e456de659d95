/**
 * Deterministic chunk assembly: cuts a conversation's audio stream into chunks whose
 * boundaries depend only on stream positions (`chunkAt` of shared/audio-format.ts), never
 * on how the audio arrived in frames or sockets. Audio re-sent after a reconnect therefore
 * forms byte-identical chunks, and a worker can store each chunk idempotently.
 *
 * pcm16 positions count bytes; opus positions count packets, and an Opus chunk body is the
 * packets framed by `frameOpusPackets`.
 */
import { type ChunkRange, type Codec, chunkAt, frameOpusPackets } from "../../shared/audio-format";
import { type ChunkBuffers, chunkBuffers } from "./chunk-buffers";

/** A chunk the ingress cut from the stream, before it is published: its range in units and its body. */
export interface CutChunk extends ChunkRange {
  readonly body: Buffer;
  /** The conversation's last chunk (possibly shorter than the chunk size). */
  readonly final: boolean;
  /**
   * Hands the body's buffer back for a later chunk (chunk-buffers.ts): call it only once
   * nobody holds the body any more (Pub/Sub confirmed it). Absent for Opus chunks.
   */
  readonly recycle?: () => void;
}

/** What `push` returns for a frame that completed no chunk (most frames): no array per frame. */
const NO_CHUNKS: readonly CutChunk[] = [];

export class Chunker {
  /**
   * The pcm16 chunk being filled, allocated at its first byte: each frame is copied in once
   * as it arrives, so the chunk holds no views of the socket's read buffers (which would
   * keep them alive for a whole chunk) and needs no concatenation when complete.
   */
  private body: Buffer | undefined;
  /** The Opus packets of the chunk being filled (framed when it is complete). */
  private pieces: Buffer[] = [];
  /** Units in `pieces`. */
  private partialUnits = 0;
  private partialBytes = 0;
  private chunkStart: number;

  /**
   * @param startPosition where this socket's audio begins: a durable position, which is
   *   always a chunk boundary while a conversation is in progress.
   */
  constructor(
    private readonly codec: Codec,
    private readonly chunkSize: number,
    startPosition: number,
    private readonly buffers: ChunkBuffers = chunkBuffers,
  ) {
    if (!Number.isInteger(chunkSize) || chunkSize < 1)
      throw new RangeError(`chunk size ${chunkSize} is not a positive integer`);
    if (startPosition % chunkSize !== 0) {
      throw new RangeError(`start position ${startPosition} is not a chunk boundary (chunk size ${chunkSize})`);
    }
    if (codec === "pcm16" && chunkSize % 2 !== 0) throw new RangeError("a pcm16 chunk size must be whole samples");
    this.chunkStart = startPosition;
  }

  /** Units received so far: the stream position after the last frame. */
  get position(): number {
    return this.chunkStart + this.partialUnits;
  }

  /** Bytes held for the chunk being filled (what a disconnect would drop). */
  get bufferedBytes(): number {
    return this.partialBytes;
  }

  /**
   * Appends one frame (pcm16 bytes, or exactly one Opus packet) and returns the chunks it
   * completed, in stream order. The frame must already be validated.
   */
  push(frame: Buffer): readonly CutChunk[] {
    if (this.codec === "opus") return this.pushPacket(frame);
    let done = NO_CHUNKS;
    for (let offset = 0; offset < frame.length; ) {
      const take = Math.min(this.chunkSize - this.partialUnits, frame.length - offset);
      this.body ??= this.buffers.take(this.chunkSize);
      frame.copy(this.body, this.partialBytes, offset, offset + take);
      this.partialUnits += take;
      this.partialBytes += take;
      offset += take;
      if (this.partialUnits === this.chunkSize) done = [...done, this.cut(false)];
    }
    return done;
  }

  private pushPacket(packet: Buffer): readonly CutChunk[] {
    this.pieces.push(packet);
    this.partialUnits += 1;
    this.partialBytes += packet.length;
    return this.partialUnits === this.chunkSize ? [this.cut(false)] : NO_CHUNKS;
  }

  /**
   * The audio after the last full chunk, as the conversation's final chunk; undefined when
   * the stream ends on a chunk boundary. The chunker is empty afterwards.
   */
  takeFinal(): CutChunk | undefined {
    return this.partialUnits === 0 ? undefined : this.cut(true);
  }

  /** Forgets the partial chunk (a disconnect: the client re-sends it). Returns the units dropped. */
  dropPartial(): number {
    const dropped = this.partialUnits;
    // Nothing outside the chunker saw the partial chunk's buffer.
    if (this.body !== undefined) this.buffers.give(this.body);
    this.body = undefined;
    this.pieces = [];
    this.partialUnits = 0;
    this.partialBytes = 0;
    return dropped;
  }

  private cut(final: boolean): CutChunk {
    const { index, start } = chunkAt(this.chunkStart, this.chunkSize);
    const range = { index, start, end: start + this.partialUnits, final };
    const buffer = this.body ?? Buffer.alloc(0);
    const chunk: CutChunk =
      this.codec === "opus"
        ? // Opus packets are copied here (framed), out of the socket's read buffers.
          { ...range, body: frameOpusPackets(this.pieces) }
        : { ...range, body: buffer.subarray(0, this.partialBytes), recycle: this.recycler(buffer) };
    this.chunkStart += this.partialUnits;
    this.body = undefined;
    this.pieces = [];
    this.partialUnits = 0;
    this.partialBytes = 0;
    return chunk;
  }

  /** Gives `buffer` back once, however often the returned function is called. */
  private recycler(buffer: Buffer): () => void {
    let given = false;
    return () => {
      if (given) return;
      given = true;
      this.buffers.give(buffer);
    };
  }
}
