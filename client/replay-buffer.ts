/**
 * The audio a client holds until the server acknowledges it, addressed by stream position
 * (bytes for pcm16, packets for opus). After a reconnect the client re-sends from the
 * server's `ready.position`; acknowledged audio is dropped. Bounded by `capacityBytes`.
 */
import type { PositionUnit } from "../shared/audio-format";

interface Entry {
  /** Stream position of the entry's first unit. */
  start: number;
  data: Uint8Array;
}

export class ReplayBuffer {
  private entries: Entry[] = [];
  private heldBytes = 0;
  /** Position of the first unit held (everything before is acknowledged). */
  private base = 0;
  /** Position after the last unit written. */
  private endPosition = 0;

  constructor(
    readonly unit: PositionUnit,
    readonly capacityBytes: number,
  ) {
    if (!(capacityBytes > 0)) throw new RangeError("the replay buffer needs a positive capacity");
  }

  get start(): number {
    return this.base;
  }

  get end(): number {
    return this.endPosition;
  }

  get bytes(): number {
    return this.heldBytes;
  }

  /** Whether `bytes` more fit within the capacity. */
  fits(bytes: number): boolean {
    return this.heldBytes + bytes <= this.capacityBytes;
  }

  /** Units `data` occupies in the stream. */
  unitsOf(data: Uint8Array): number {
    return this.unit === "byte" ? data.length : 1;
  }

  /** A session that starts at a position other than 0 (resumed from an earlier run). Only when empty. */
  rebase(position: number): void {
    if (this.entries.length > 0) throw new Error("cannot rebase a replay buffer that holds audio");
    this.base = position;
    this.endPosition = position;
  }

  /** Appends audio (a byte run, or one packet); returns its start position. */
  append(data: Uint8Array): number {
    const start = this.endPosition;
    this.entries.push({ start, data });
    this.heldBytes += data.length;
    this.endPosition += this.unitsOf(data);
    return start;
  }

  /** Drops everything before `position` (acknowledged). */
  acknowledge(position: number): void {
    if (position <= this.base) return;
    const target = Math.min(position, this.endPosition);
    while (this.entries.length > 0) {
      const first = this.entries[0];
      if (first === undefined) break;
      const firstEnd = first.start + this.unitsOf(first.data);
      if (firstEnd <= target) {
        this.entries.shift();
        this.heldBytes -= first.data.length;
        continue;
      }
      if (first.start < target && this.unit === "byte") {
        const cut = target - first.start;
        first.data = first.data.subarray(cut);
        first.start = target;
        this.heldBytes -= cut;
      }
      break;
    }
    this.base = target;
  }

  /**
   * The held audio from `position` on, as frames of at most `maxFrameBytes` (byte
   * streams are re-split; packets are returned whole).
   */
  framesFrom(position: number, maxFrameBytes: number): Uint8Array[] {
    if (position < this.base || position > this.endPosition) {
      throw new RangeError(`position ${position} is outside the held audio [${this.base}, ${this.endPosition}]`);
    }
    const frames: Uint8Array[] = [];
    for (const entry of this.entries) {
      const entryEnd = entry.start + this.unitsOf(entry.data);
      if (entryEnd <= position) continue;
      if (this.unit === "packet") {
        frames.push(entry.data);
        continue;
      }
      const data = entry.start < position ? entry.data.subarray(position - entry.start) : entry.data;
      for (let offset = 0; offset < data.length; offset += maxFrameBytes) {
        frames.push(data.subarray(offset, Math.min(data.length, offset + maxFrameBytes)));
      }
    }
    return frames;
  }
}
