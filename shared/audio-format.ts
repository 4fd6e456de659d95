/**
 * Audio formats the protocol accepts, and the stream arithmetic both ends of a pipe
 * must agree on: how positions are counted and where chunk boundaries fall. The codecs,
 * sample rates and frame limits themselves are plain values in codecs.ts (re-exported
 * here with their schemas).
 *
 * Chunk boundaries are a pure function of the conversation's stream position, never of
 * socket sessions, so audio re-sent after a reconnect always forms the same chunks and a
 * worker can store each chunk idempotently under its index.
 */
import { z } from "zod";
import { CODECS, type Codec, SAMPLE_RATES, type SampleRate } from "./codecs";

export {
  CODECS,
  type Codec,
  MAX_OPUS_PACKET_BYTES,
  MAX_PCM16_FRAME_BYTES,
  type PositionUnit,
  positionUnit,
  SAMPLE_RATES,
  type SampleRate,
} from "./codecs";

export const codecSchema = z.enum(CODECS);
export const sampleRateSchema = z
  .number()
  .refine((n): n is SampleRate => (SAMPLE_RATES as readonly number[]).includes(n), {
    message: `must be one of ${SAMPLE_RATES.join(", ")}`,
  });

/** Opus packets are assumed 20 ms long when sizing a chunk in packets. */
export const OPUS_PACKETS_PER_SECOND = 50;

/** Units (bytes or packets) in one chunk of `chunkSeconds` seconds. */
export function chunkSizeUnits(codec: Codec, sampleRate: SampleRate, chunkSeconds: number): number {
  if (codec === "pcm16") {
    // Whole samples only: a chunk never splits a 16-bit sample.
    return Math.max(2, Math.round(sampleRate * chunkSeconds) * 2);
  }
  return Math.max(1, Math.round(OPUS_PACKETS_PER_SECOND * chunkSeconds));
}

export interface ChunkRange {
  readonly index: number;
  /** First unit of the chunk (inclusive). */
  readonly start: number;
  /** One past the last unit (exclusive). */
  readonly end: number;
}

/** The chunk that contains unit `position`. */
export function chunkAt(position: number, chunkSize: number): ChunkRange {
  const index = Math.floor(position / chunkSize);
  return { index, start: index * chunkSize, end: (index + 1) * chunkSize };
}

/** Chunks that cover [0, finalPosition): all full-size except possibly the last. */
export function chunksUpTo(finalPosition: number, chunkSize: number): ChunkRange[] {
  const ranges: ChunkRange[] = [];
  for (let start = 0, index = 0; start < finalPosition; start += chunkSize, index += 1) {
    ranges.push({ index, start, end: Math.min(start + chunkSize, finalPosition) });
  }
  return ranges;
}

/** Duration in milliseconds of `units` of audio (pcm16 bytes, or 20 ms Opus packets). */
export function unitsToMilliseconds(codec: Codec, sampleRate: SampleRate, units: number): number {
  if (codec === "pcm16") return (units / 2 / sampleRate) * 1000;
  return (units / OPUS_PACKETS_PER_SECOND) * 1000;
}

/**
 * Opus chunk bodies carry several packets: each is a 2-byte big-endian length followed by
 * the packet. (Opus packets in this protocol are at most 4,000 bytes.)
 */
export function frameOpusPackets(packets: readonly Uint8Array[]): Buffer {
  const total = packets.reduce((sum, p) => sum + 2 + p.length, 0);
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (const packet of packets) {
    out.writeUInt16BE(packet.length, offset);
    out.set(packet, offset + 2);
    offset += 2 + packet.length;
  }
  return out;
}

/** Inverse of `frameOpusPackets`; throws on a truncated body. */
export function unframeOpusPackets(body: Uint8Array): Buffer[] {
  const buffer = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const packets: Buffer[] = [];
  let offset = 0;
  while (offset < buffer.length) {
    if (offset + 2 > buffer.length) throw new Error(`truncated Opus framing at byte ${offset}`);
    const length = buffer.readUInt16BE(offset);
    const end = offset + 2 + length;
    if (end > buffer.length) throw new Error(`truncated Opus packet at byte ${offset}`);
    packets.push(buffer.subarray(offset + 2, end));
    offset = end;
  }
  return packets;
}
