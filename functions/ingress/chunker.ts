/**
 * Deterministic chunk assembly: cuts a conversation's audio stream into chunks whose
 * boundaries depend only on stream positions (`chunkAt` of shared/audio-format.ts), never
 * on how the audio arrived in frames or sockets. Audio re-sent after a reconnect therefore
 * forms byte-identical chunks, and a worker can store each chunk idempotently.
 *
 * pcm16 positions count bytes; opus positions count packets, and an Opus chunk body is the
 * packets framed by `frameOpusPackets`.
 */
import { type Codec, chunkAt, frameOpusPackets } from "../../shared/audio-format";

export interface Chunk {
  readonly index: number;
  /** First unit (inclusive). */
  readonly start: number;
  /** One past the last unit (exclusive). */
  readonly end: number;
  readonly body: Buffer;
  /** The conversation's last chunk (possibly shorter than the chunk size). */
  readonly final: boolean;
}

export class Chunker {
  /** Pieces of the chunk being filled: pcm16 byte runs, or one entry per Opus packet. */
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
  push(frame: Buffer): Chunk[] {
    if (this.codec === "opus") return this.pushPacket(frame);
    const done: Chunk[] = [];
    let rest = frame;
    while (rest.length > 0) {
      const room = this.chunkSize - this.partialUnits;
      const take = Math.min(room, rest.length);
      this.pieces.push(rest.subarray(0, take));
      this.partialUnits += take;
      this.partialBytes += take;
      rest = rest.subarray(take);
      if (this.partialUnits === this.chunkSize) done.push(this.cut(false));
    }
    return done;
  }

  private pushPacket(packet: Buffer): Chunk[] {
    this.pieces.push(packet);
    this.partialUnits += 1;
    this.partialBytes += packet.length;
    return this.partialUnits === this.chunkSize ? [this.cut(false)] : [];
  }

  /**
   * The audio after the last full chunk, as the conversation's final chunk; undefined when
   * the stream ends on a chunk boundary. The chunker is empty afterwards.
   */
  takeFinal(): Chunk | undefined {
    return this.partialUnits === 0 ? undefined : this.cut(true);
  }

  /** Forgets the partial chunk (a disconnect: the client re-sends it). Returns the units dropped. */
  dropPartial(): number {
    const dropped = this.partialUnits;
    this.pieces = [];
    this.partialUnits = 0;
    this.partialBytes = 0;
    return dropped;
  }

  private cut(final: boolean): Chunk {
    const { index, start } = chunkAt(this.chunkStart, this.chunkSize);
    // Copy: frames from the socket may share larger buffers we must not keep alive.
    const body = this.codec === "opus" ? frameOpusPackets(this.pieces) : Buffer.concat(this.pieces, this.partialBytes);
    const chunk: Chunk = { index, start, end: start + this.partialUnits, body, final };
    this.chunkStart += this.partialUnits;
    this.pieces = [];
    this.partialUnits = 0;
    this.partialBytes = 0;
    return chunk;
  }
}
