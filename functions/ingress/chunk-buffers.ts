/**
 * pcm16 chunk buffers reused once their publish settled, instead of one fresh buffer per
 * chunk. Of the allocations each chunk's bytes take outside the JS heap (the socket reads
 * and the chunk; the publish request is written from the chunk), the chunk lives longest,
 * so it always outlives a scavenge and only a full mark frees it; reusing it cut the
 * ingress's GC time (bench/NOTES.md has the figures).
 *
 * A buffer may come back only when nobody holds it any more: its chunk was dropped before
 * it left the chunker, or Pub/Sub confirmed the publish (the request is written from the
 * buffer itself, and is over by then). One reused too early would publish another chunk's bytes.
 */

/** Idle buffers kept, in bytes: enough for the chunks in flight at a busy instance, bounded. */
export const MAX_IDLE_BYTES = 32 * 1024 * 1024;

export class ChunkBuffers {
  /** Idle buffers by size (a pcm16 chunk's size depends on its sample rate). */
  private readonly idle = new Map<number, Buffer[]>();
  private idleBytes = 0;

  constructor(private readonly maxIdleBytes: number) {}

  /** A buffer of `size` bytes, of unspecified content. */
  take(size: number): Buffer {
    const buffer = this.idle.get(size)?.pop();
    if (buffer === undefined) return Buffer.allocUnsafe(size);
    this.idleBytes -= size;
    return buffer;
  }

  /** Hands back a buffer from `take` that nobody holds any more; kept if there is room. */
  give(buffer: Buffer): void {
    if (this.idleBytes + buffer.length > this.maxIdleBytes) return;
    const same = this.idle.get(buffer.length);
    if (same === undefined) this.idle.set(buffer.length, [buffer]);
    else same.push(buffer);
    this.idleBytes += buffer.length;
  }

  /** Bytes held idle (for tests). */
  get heldBytes(): number {
    return this.idleBytes;
  }
}

/** The process's pool, shared by every socket. */
export const chunkBuffers = new ChunkBuffers(MAX_IDLE_BYTES);
