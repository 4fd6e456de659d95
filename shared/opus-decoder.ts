/**
 * Opus to PCM16: how long a packet is (from its TOC byte alone) and how a stored chunk
 * body of framed packets decodes, with opusscript (libopus compiled to wasm, offline).
 *
 * Every chunk is decoded with a fresh decoder primed by the tail of the chunk before it,
 * so the PCM of a chunk depends on those two chunks only: a ranged `audio.wav` request and
 * a full download produce the same bytes, and the length of every chunk's PCM is known
 * from the TOC bytes before anything is decoded (the WAV header is exact).
 * RFC 6716 section 3.1: https://www.rfc-editor.org/rfc/rfc6716#section-3.1
 */
import OpusScript from "opusscript";
import type { SampleRate } from "./audio-format";
import { unframeOpusPackets } from "./audio-format";
import { readOpusToc } from "./opus-packet";

/** RFC 6716: a packet holds at most 120 ms of audio. */
const MAX_PACKET_MICROSECONDS = 120_000;

export class OpusPacketError extends Error {
  override name = "OpusPacketError";
}

/**
 * Samples (per channel) that `packet` decodes to at `sampleRate`, read from its TOC byte
 * (opus_packet_get_nb_samples). Throws `OpusPacketError` for an empty or impossible packet.
 */
export function opusPacketSampleCount(packet: Uint8Array, sampleRate: SampleRate): number {
  const toc = readOpusToc(packet);
  if ("problem" in toc) throw new OpusPacketError(`Opus packet: ${toc.problem}`);
  if (toc.frameCount === 0) throw new OpusPacketError("Opus code-3 packet with zero frames");
  const microseconds = toc.frameCount * toc.frameDurationUs;
  if (microseconds > MAX_PACKET_MICROSECONDS) {
    throw new OpusPacketError(`Opus packet of ${microseconds / 1000} ms exceeds 120 ms`);
  }
  return (microseconds * sampleRate) / 1_000_000;
}

/** Total samples of a framed chunk body; throws on bad framing or an impossible packet. */
export function opusChunkSampleCount(body: Uint8Array, sampleRate: SampleRate): number {
  return unframeOpusPackets(body).reduce((sum, packet) => sum + opusPacketSampleCount(packet, sampleRate), 0);
}

/** Packets of the previous chunk replayed (output discarded) to prime the decoder. */
export const OPUS_PRIMING_PACKETS = 3;

export interface DecodedOpus {
  /** PCM16 little-endian mono, exactly `sum(opusPacketSampleCount)` samples long. */
  readonly pcm: Buffer;
  /** Packets that libopus refused or decoded to another length; their span is silence. */
  readonly failedPackets: number;
}

/**
 * Decodes packets to PCM16 mono at `sampleRate`. `priming` (the last packets of the chunk
 * before) warms the decoder state and produces no output. A packet that fails to decode
 * is replaced by silence of its declared length, so the output length never depends on
 * the decoder; the caller logs `failedPackets`.
 */
export function decodeOpusPackets(
  packets: readonly Buffer[],
  sampleRate: SampleRate,
  priming: readonly Buffer[] = [],
): DecodedOpus {
  const lengths = packets.map((p) => opusPacketSampleCount(p, sampleRate) * 2);
  const pcm = Buffer.alloc(lengths.reduce((a, b) => a + b, 0));
  const decoder = new OpusScript(sampleRate, 1, OpusScript.Application.AUDIO);
  let failedPackets = 0;
  try {
    for (const packet of priming) {
      try {
        decoder.decode(packet);
      } catch {
        // Priming only shapes decoder state; a bad priming packet changes nothing we emit.
      }
    }
    let offset = 0;
    for (const [i, packet] of packets.entries()) {
      const expected = lengths[i] as number;
      try {
        const decoded = decoder.decode(packet);
        if (decoded.length !== expected) failedPackets += 1;
        decoded.copy(pcm, offset, 0, Math.min(decoded.length, expected));
      } catch {
        failedPackets += 1;
      }
      offset += expected;
    }
  } finally {
    decoder.delete();
  }
  return { pcm, failedPackets };
}

/** Decodes one stored chunk body (framed packets), primed by the previous chunk's body. */
export function decodeOpusChunk(body: Uint8Array, sampleRate: SampleRate, previousBody?: Uint8Array): DecodedOpus {
  const priming = previousBody ? unframeOpusPackets(previousBody).slice(-OPUS_PRIMING_PACKETS) : [];
  return decodeOpusPackets(unframeOpusPackets(body), sampleRate, priming);
}
