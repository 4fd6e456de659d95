/**
 * The audio a client holds until the server acknowledges it, addressed by stream position
 * (bytes for pcm16, packets for opus). After a reconnect the client re-sends from the
 * server's `ready.position`; acknowledged audio is dropped. Bounded by `capacityBytes`.
 *
 * With a backing store (store.ts) every append is written to it too, and trimmed there as
 * acks arrive: `storedEnd` is how far the store holds the audio, and only that much is
 * handed out for sending. Without one, audio counts as stored once appended.
 */
import type { PositionUnit } from "../shared/codecs";
import type { ConversationLog, StoredAudio } from "./store";

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
  /** Position up to which the backing store holds the audio. */
  private storedPosition = 0;
  /** The latest pending store write, if any (a store completes its writes in order). */
  private storing: Promise<void> | undefined;
  /** Set once a store write failed: nothing after it counts as stored. */
  private storeFailure: Error | undefined;

  constructor(
    readonly unit: PositionUnit,
    readonly capacityBytes: number,
    private readonly backing?: ConversationLog,
  ) {
    if (!(capacityBytes > 0)) throw new RangeError("the replay buffer needs a positive capacity");
  }

  /** Loads what a store held after a restart: everything before `acked` is acknowledged. */
  restore(acked: number, audio: readonly StoredAudio[]): void {
    if (this.entries.length > 0) throw new Error("cannot restore into a replay buffer that holds audio");
    this.base = acked;
    this.endPosition = acked;
    for (const stored of audio) {
      const end = stored.start + this.unitsOf(stored.data);
      if (end <= acked) continue;
      const cut = stored.start < acked && this.unit === "byte" ? acked - stored.start : 0;
      const start = stored.start + cut;
      if (start !== this.endPosition) throw new Error(`stored audio has a gap at ${this.endPosition}`);
      const data = stored.data.subarray(cut);
      this.entries.push({ start, data });
      this.heldBytes += data.length;
      this.endPosition = start + this.unitsOf(data);
    }
    this.storedPosition = this.endPosition;
  }

  /** Position up to which the audio is stored (the end, without a backing store). */
  get storedEnd(): number {
    return this.storedPosition;
  }

  /** Resolves once every append so far is stored; rejects if the store failed. */
  stored(): Promise<void> | undefined {
    if (this.storeFailure) return Promise.reject(this.storeFailure);
    if (this.storedPosition === this.endPosition || this.storing === undefined) return undefined;
    return this.storing.then(() => {
      if (this.storeFailure) throw this.storeFailure;
    });
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
    this.storedPosition = position;
  }

  /**
   * Appends audio (a byte run, or one packet); returns its start position. A store that
   * fails synchronously throws here, and nothing is appended.
   */
  append(data: Uint8Array): number {
    const start = this.endPosition;
    const end = start + this.unitsOf(data);
    const written = this.backing?.appendAudio(start, data);
    this.entries.push({ start, data });
    this.heldBytes += data.length;
    this.endPosition = end;
    if (!(written instanceof Promise)) this.storedPosition = end;
    else
      this.storing = written.then(
        () => {
          if (!this.storeFailure) this.storedPosition = Math.max(this.storedPosition, end);
        },
        (error: unknown) => {
          this.storeFailure ??= error instanceof Error ? error : new Error(String(error));
        },
      );
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
    this.backing?.acknowledge(target);
  }

  /**
   * The held audio from `position` to `to` (default: as far as it is stored), as frames of
   * at most `maxFrameBytes` (byte streams are re-split; packets are returned whole).
   */
  framesFrom(position: number, maxFrameBytes: number, to = this.storedPosition): Uint8Array[] {
    if (position < this.base || position > this.endPosition) {
      throw new RangeError(`position ${position} is outside the held audio [${this.base}, ${this.endPosition}]`);
    }
    const frames: Uint8Array[] = [];
    for (const entry of this.entries) {
      const entryEnd = entry.start + this.unitsOf(entry.data);
      if (entryEnd <= position) continue;
      if (entry.start >= to) break;
      if (this.unit === "packet") {
        frames.push(entry.data);
        continue;
      }
      const whole = entryEnd > to ? entry.data.subarray(0, to - entry.start) : entry.data;
      const data = entry.start < position ? whole.subarray(position - entry.start) : whole;
      for (let offset = 0; offset < data.length; offset += maxFrameBytes) {
        frames.push(data.subarray(offset, Math.min(data.length, offset + maxFrameBytes)));
      }
    }
    return frames;
  }
}
