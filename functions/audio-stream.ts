/**
 * A conversation's audio as one PCM16 stream over its chunk objects: where each chunk's
 * samples sit in that stream (a pure layout), and one reader of any byte range of it. The
 * API's `audio.wav` and speaker extraction both read audio through this module, so a
 * sample cut for a speaker equals the same bytes of the WAV.
 *
 * pcm16: a chunk object holds the stream's own bytes, so a range is read with ranged object
 * reads: exactly its bytes, across chunk boundaries.
 *
 * opus: a chunk object holds framed packets, which cannot be entered mid-way, so a chunk is
 * read whole and decoded with `shared/opus-decoder.ts`, primed by the tail of the chunk
 * before it. A chunk's PCM then depends on those two chunks only, and a range decodes to
 * the same bytes as the whole stream does. Chunks are placed end to end by their sample
 * counts, which the caller knows from the chunk records (functions/chunk-records.ts).
 */
import type { Bucket } from "@google-cloud/storage";
import type { Codec, SampleRate } from "../shared/audio-format";
import type { ChunkAudioFields } from "../shared/firestore-schema";
import { decodeOpusChunk } from "../shared/opus-decoder";

/**
 * A chunk placed in the stream: its samples are [firstSample, firstSample + samples). Its
 * record is undefined where the chunk is not persisted (it still takes its place).
 */
export interface LaidOutChunk {
  readonly index: number;
  readonly record: ChunkAudioFields | undefined;
  /** PCM samples the chunk holds (decoded, for opus). */
  readonly samples: number;
  readonly firstSample: number;
}

/**
 * Places chunks end to end, each as long as its sample count. `chunks` must be every index
 * from 0 in order (a caller that lacks a chunk passes it with no record). Pure.
 */
export function layOutChunks(chunks: readonly Omit<LaidOutChunk, "firstSample">[]): LaidOutChunk[] {
  let firstSample = 0;
  return chunks.map((chunk, position) => {
    if (chunk.index !== position) {
      throw new RangeError(`chunk layout needs every index from 0 in order; position ${position} holds ${chunk.index}`);
    }
    const laidOut = { ...chunk, firstSample };
    firstSample += chunk.samples;
    return laidOut;
  });
}

/** Samples of the whole laid-out stream. Pure. */
export function streamSamples(spans: readonly LaidOutChunk[]): number {
  const last = spans.at(-1);
  return last === undefined ? 0 : last.firstSample + last.samples;
}

/** The part of one chunk a byte range covers, in that chunk's own PCM bytes. */
export interface RangePiece {
  readonly span: LaidOutChunk;
  /** The chunk before `span` in the layout (its tail primes an Opus decoder). */
  readonly previous: LaidOutChunk | undefined;
  /** PCM bytes [from, to) of the chunk. */
  readonly from: number;
  readonly to: number;
}

/** The chunks PCM bytes [from, to) of the stream fall in, in order, each with its local byte range. Pure. */
export function piecesInRange(spans: readonly LaidOutChunk[], from: number, to: number): RangePiece[] {
  const pieces: RangePiece[] = [];
  if (to <= from) return pieces;
  for (const [position, span] of spans.entries()) {
    const start = span.firstSample * 2;
    const end = start + span.samples * 2;
    if (end <= from) continue;
    if (start >= to) break;
    pieces.push({
      span,
      previous: spans[position - 1],
      from: Math.max(from, start) - start,
      to: Math.min(to, end) - start,
    });
  }
  return pieces;
}

/** The chunk's object is not persisted, or is gone from the bucket. */
export class ChunkMissingError extends Error {
  override name = "ChunkMissingError";
  constructor(
    readonly index: number,
    object: string | undefined,
  ) {
    super(object === undefined ? `chunk ${index} is not persisted` : `chunk ${index}: object ${object} does not exist`);
  }
}

export interface ReadStats {
  /** Bytes downloaded from chunk objects. */
  bytesRead: number;
  objectReads: number;
}

export interface AudioSource {
  readonly bucket: Bucket;
  readonly codec: Codec;
  readonly sampleRate: SampleRate;
}

export interface ReadOptions {
  /**
   * Chunk reads started ahead of the one being returned: 0 (the default) keeps memory at one
   * chunk whatever the range; `Infinity` reads every chunk of a short range at once.
   */
  readonly readAhead?: number;
  /** opus: decode the range's first chunk unprimed when the chunk before it cannot be read, rather than fail. */
  readonly primerOptional?: boolean;
  /** Counts what is downloaded. */
  readonly stats?: ReadStats;
  /** opus: packets of chunk `index` that failed to decode (their span is silence). */
  readonly onDecodeFailure?: (index: number, failedPackets: number) => void;
}

function isNotFound(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === 404;
}

/** The chunk's object, or bytes [range[0], range[1]) of it. */
async function download(
  bucket: Bucket,
  span: LaidOutChunk,
  stats: ReadStats | undefined,
  range?: readonly [number, number],
): Promise<Buffer> {
  const { record } = span;
  if (record === undefined) throw new ChunkMissingError(span.index, undefined);
  try {
    const [body] = await bucket
      .file(record.object)
      // `end` is inclusive; ranged reads cannot be hash-validated (the hash covers the whole object).
      .download(range ? { start: range[0], end: range[1] - 1, validation: false } : {});
    if (stats) {
      stats.bytesRead += body.length;
      stats.objectReads += 1;
    }
    const expected = range ? range[1] - range[0] : record.bytes;
    if (body.length !== expected) {
      throw new Error(`object ${record.object} returned ${body.length} bytes, expected ${expected}`);
    }
    return body;
  } catch (error) {
    if (isNotFound(error)) throw new ChunkMissingError(span.index, record.object);
    throw error;
  }
}

/**
 * PCM16 bytes [from, to) of the stream laid out by `spans`, one chunk's part at a time, in
 * order. Yields exactly `to - from` bytes or throws: `ChunkMissingError` for a chunk that
 * is not there, an Error for an object shorter than its ChunkDoc says or spans that do not
 * cover the range (a response is then cut, never padded with guesses).
 */
export async function* readPcmRange(
  source: AudioSource,
  spans: readonly LaidOutChunk[],
  from: number,
  to: number,
  options: ReadOptions = {},
): AsyncGenerator<Buffer> {
  const { bucket, codec, sampleRate } = source;
  const pieces = piecesInRange(spans, from, to);
  const reads: Promise<Buffer>[] = [];
  const startRead = (i: number): void => {
    const piece = pieces[i];
    if (piece === undefined || reads[i] !== undefined) return;
    const read =
      codec === "pcm16"
        ? download(bucket, piece.span, options.stats, [piece.from, piece.to])
        : download(bucket, piece.span, options.stats);
    // Awaited in order below; one never awaited (the reader stopped early) must not surface as unhandled.
    read.catch(() => undefined);
    reads[i] = read;
  };
  const primer = pieces[0]?.previous;
  let previousBody: Promise<Buffer | undefined> = Promise.resolve(undefined);
  if (codec === "opus" && primer?.record !== undefined) {
    const read = download(bucket, primer, options.stats);
    previousBody = options.primerOptional ? read.catch(() => undefined) : read;
    previousBody.catch(() => undefined);
  }
  let yielded = 0;
  for (const [i, piece] of pieces.entries()) {
    const ahead = Math.min(pieces.length, i + 1 + (options.readAhead ?? 0));
    for (let next = i; next < ahead; next += 1) startRead(next);
    const body = await (reads[i] as Promise<Buffer>);
    let pcm = body;
    if (codec === "opus") {
      const decoded = decodeOpusChunk(body, sampleRate, await previousBody);
      if (decoded.failedPackets > 0) options.onDecodeFailure?.(piece.span.index, decoded.failedPackets);
      pcm = decoded.pcm.subarray(piece.from, piece.to);
      previousBody = Promise.resolve(body);
    }
    if (pcm.length !== piece.to - piece.from) {
      throw new Error(
        `chunk ${piece.span.index} gave ${pcm.length} PCM bytes of [${piece.from}, ${piece.to}); its sample count is wrong`,
      );
    }
    yielded += pcm.length;
    yield pcm;
  }
  if (yielded !== Math.max(0, to - from)) {
    throw new Error(`the chunks cover ${yielded} of the ${to - from} PCM bytes [${from}, ${to}) asked for`);
  }
}
