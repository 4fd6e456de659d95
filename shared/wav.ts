/**
 * PCM16 WAV (RIFF/WAVE) headers: built by the API's `audio.wav` and by speaker samples,
 * parsed by tests and tools.
 *
 * tether writes the canonical 44-byte header (RIFF, `fmt ` with PCM format 1, `data`), so
 * the byte offset of every sample is known before any audio is read: a ranged request can
 * be answered from the chunk objects alone.
 * http://soundfile.sapp.org/doc/WaveFormat/
 */

export const WAV_HEADER_BYTES = 44;
const BITS_PER_SAMPLE = 16;
const PCM_FORMAT = 1;
/** RIFF sizes are 32-bit. */
const MAX_DATA_BYTES = 0xffffffff - (WAV_HEADER_BYTES - 8);

export interface WavFormat {
  readonly sampleRate: number;
  readonly channels: number;
}

/** The 44-byte header of a PCM16 WAV whose data chunk holds `dataBytes` bytes. */
export function wavHeader(format: WavFormat, dataBytes: number): Buffer {
  if (!Number.isInteger(dataBytes) || dataBytes < 0 || dataBytes > MAX_DATA_BYTES) {
    throw new RangeError(`WAV data size must be an integer in [0, ${MAX_DATA_BYTES}], got ${dataBytes}`);
  }
  const blockAlign = format.channels * (BITS_PER_SAMPLE / 8);
  const header = Buffer.alloc(WAV_HEADER_BYTES);
  header.write("RIFF", 0, "ascii");
  header.writeUInt32LE(WAV_HEADER_BYTES - 8 + dataBytes, 4);
  header.write("WAVE", 8, "ascii");
  header.write("fmt ", 12, "ascii");
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(PCM_FORMAT, 20);
  header.writeUInt16LE(format.channels, 22);
  header.writeUInt32LE(format.sampleRate, 24);
  header.writeUInt32LE(format.sampleRate * blockAlign, 28);
  header.writeUInt16LE(blockAlign, 32);
  header.writeUInt16LE(BITS_PER_SAMPLE, 34);
  header.write("data", 36, "ascii");
  header.writeUInt32LE(dataBytes, 40);
  return header;
}

/** A whole WAV file around PCM16 little-endian samples. */
export function encodeWav(format: WavFormat, pcm: Buffer): Buffer {
  return Buffer.concat([wavHeader(format, pcm.length), pcm]);
}

export interface ParsedWav {
  readonly sampleRate: number;
  readonly channels: number;
  readonly bitsPerSample: number;
  /** Byte offset of the first sample. */
  readonly dataOffset: number;
  /** Length of the data chunk, as the header declares it. */
  readonly dataBytes: number;
}

export class WavFormatError extends Error {
  override name = "WavFormatError";
}

/**
 * Reads a PCM WAV header, skipping chunks other than `fmt ` and `data` (LIST, fact, ...).
 * Throws `WavFormatError` when the buffer is not a PCM WAV or is cut before `data`.
 */
export function parseWavHeader(buffer: Buffer): ParsedWav {
  if (buffer.length < 12 || buffer.toString("ascii", 0, 4) !== "RIFF" || buffer.toString("ascii", 8, 12) !== "WAVE") {
    throw new WavFormatError("not a RIFF/WAVE file");
  }
  let format: Omit<ParsedWav, "dataOffset" | "dataBytes"> | undefined;
  let offset = 12;
  while (offset + 8 <= buffer.length) {
    const id = buffer.toString("ascii", offset, offset + 4);
    const size = buffer.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === "fmt ") {
      if (body + 16 > buffer.length) throw new WavFormatError("truncated fmt chunk");
      const audioFormat = buffer.readUInt16LE(body);
      if (audioFormat !== PCM_FORMAT) throw new WavFormatError(`audio format ${audioFormat} is not PCM`);
      format = {
        channels: buffer.readUInt16LE(body + 2),
        sampleRate: buffer.readUInt32LE(body + 4),
        bitsPerSample: buffer.readUInt16LE(body + 14),
      };
    } else if (id === "data") {
      if (!format) throw new WavFormatError("data chunk before fmt chunk");
      return { ...format, dataOffset: body, dataBytes: size };
    }
    // Chunks are padded to an even size.
    offset = body + size + (size % 2);
  }
  throw new WavFormatError("no data chunk");
}

// ------------------------------------------------------------ PCM16 mono shorthands
// (the names the speaker-extraction worker uses for its samples)

/** A 44-byte header for `dataBytes` of PCM16 mono audio at `sampleRate`. */
export function pcm16MonoWavHeader(sampleRate: number, dataBytes: number): Buffer {
  return wavHeader({ sampleRate, channels: 1 }, dataBytes);
}

/** A complete PCM16 mono WAV file around little-endian samples. */
export function encodePcm16MonoWav(pcm: Buffer, sampleRate: number): Buffer {
  return encodeWav({ sampleRate, channels: 1 }, pcm);
}

export interface DecodedWav {
  readonly sampleRate: number;
  /** Little-endian PCM16 bytes of the `data` chunk (cut at the end of the buffer). */
  readonly pcm: Buffer;
}

/** Parses a PCM16 mono WAV held in memory; throws `WavFormatError` for anything else. */
export function decodePcm16MonoWav(file: Buffer): DecodedWav {
  const header = parseWavHeader(file);
  if (header.channels !== 1 || header.bitsPerSample !== BITS_PER_SAMPLE) {
    throw new WavFormatError(`expected PCM16 mono, got ${header.channels} channels of ${header.bitsPerSample} bits`);
  }
  const end = Math.min(file.length, header.dataOffset + header.dataBytes);
  const length = end - header.dataOffset;
  return { sampleRate: header.sampleRate, pcm: file.subarray(header.dataOffset, end - (length % 2)) };
}

/** Little-endian PCM16 bytes as samples (copied, so alignment never matters). */
export function pcm16Samples(pcm: Buffer): Int16Array {
  const samples = new Int16Array(Math.floor(pcm.length / 2));
  for (let i = 0; i < samples.length; i += 1) samples[i] = pcm.readInt16LE(i * 2);
  return samples;
}
