/**
 * What the API serves of a conversation's audio: the contiguous run of persisted chunks
 * from position 0, as one PCM16 stream (functions/chunk-records.ts lists and lays out the
 * chunk records, functions/audio-stream.ts reads it; speaker extraction reads the same
 * stream through those modules).
 *
 * The run stops at the first missing chunk (and after the final one), so its length is
 * known exactly from the ChunkDocs before any object is read. Any byte range of it is read
 * one chunk at a time, so memory stays at one chunk whatever the conversation's length.
 */
import type { Firestore } from "@google-cloud/firestore";
import type { Bucket } from "@google-cloud/storage";
import type { Codec, SampleRate } from "../../shared/audio-format";
import { type ChunkDoc, chunkAudioFieldsSchema } from "../../shared/firestore-schema";
import type { Logger } from "../../shared/logger";
import { type AudioSource, type LaidOutChunk, readPcmRange, streamSamples } from "../audio-stream";
import {
  chunkRecords,
  chunkRecordsBelow,
  layOutChunkRecords,
  listChunkRecords,
  type MeasuredSamples,
  readChunkRecord,
  recordChunkSamples,
  storedChunkSamples,
} from "../chunk-records";

export interface ConversationAudio {
  readonly conversationId: string;
  readonly codec: Codec;
  readonly sampleRate: SampleRate;
  /** The contiguous chunks, laid out in the stream. */
  readonly spans: readonly LaidOutChunk[];
  /** PCM16 bytes of the whole stream. */
  readonly pcmBytes: number;
  /** Position (units) the contiguous audio reaches. */
  readonly endPosition: number;
  readonly durationMs: number;
}

/** The contiguous run from index 0 of `chunks` sorted by index. Pure. */
export function contiguousChunks<T extends Pick<ChunkDoc, "index" | "final">>(sorted: readonly T[]): T[] {
  const run: T[] = [];
  for (const chunk of sorted) {
    if (chunk.index !== run.length) break;
    run.push(chunk);
    if (chunk.final) break;
  }
  return run;
}

/**
 * Lists the conversation's contiguous chunks and lays them out as one PCM16 stream. With
 * `logger`, the samples of chunk records that lack them are written back (`recordChunkSamples`).
 */
export async function conversationAudio(
  db: Firestore,
  bucket: Bucket,
  conversationId: string,
  format: { codec: Codec; sampleRate: SampleRate },
  logger?: Logger,
): Promise<ConversationAudio> {
  const listed = contiguousChunks(await listChunkRecords(db, conversationId, chunkAudioFieldsSchema));
  const { spans, measured } = await layOutChunkRecords({ bucket, ...format }, listed);
  if (logger !== undefined) await recordChunkSamples(db, conversationId, measured, logger);
  const pcmBytes = streamSamples(spans) * 2;
  return {
    conversationId,
    codec: format.codec,
    sampleRate: format.sampleRate,
    spans,
    pcmBytes,
    endPosition: listed.at(-1)?.end ?? 0,
    durationMs: (pcmBytes / 2 / format.sampleRate) * 1000,
  };
}

/**
 * PCM16 bytes [from, to) of the stream, one chunk at a time. Throws if an object is
 * shorter than its ChunkDoc says (the response is then cut, never padded with guesses).
 */
export function readPcm(
  bucket: Bucket,
  audio: ConversationAudio,
  from: number,
  to: number,
  logger: Logger,
): AsyncGenerator<Buffer> {
  const source = { bucket, codec: audio.codec, sampleRate: audio.sampleRate };
  return readPcmRange(source, audio.spans, from, to, {
    onDecodeFailure: (index, failedPackets) =>
      logger.error(
        { conversation_id: audio.conversationId, chunk_index: index, failed_packets: failedPackets },
        "opus packets failed to decode; their span is silence in the WAV",
      ),
  });
}

/** How far the contiguous audio from position 0 reaches, and how long it plays. */
export interface AudioExtent extends Pick<ConversationAudio, "endPosition" | "durationMs"> {
  /** Chunks of the run whose samples are not known yet: `durationMs` leaves them out. */
  readonly unmeasuredChunks: number;
}

/** Opus chunk records without `samples` that one status answer measures, at most (an object read each). */
export const MAX_CHUNKS_MEASURED_PER_ANSWER = 100;

/** The largest n in [0, max] for which `holds` is true, for a `holds` true at 0 that stays false once false. */
async function largestHolding(max: number, holds: (n: number) => Promise<boolean>): Promise<number> {
  if (await holds(max)) return max;
  let [yes, no] = [0, max];
  while (no - yes > 1) {
    const middle = Math.floor((yes + no) / 2);
    if (await holds(middle)) yes = middle;
    else no = middle;
  }
  return yes;
}

/**
 * `conversationAudio`'s extent in a bounded number of reads, for the conversation's status
 * (GET /v1/conversations/{id}): counts and sums over the ChunkDocs (each billed one read per
 * 1,000 documents) and one ChunkDoc, never a listing. The contiguous run is the largest n
 * with n ChunkDocs below index n (an index has one ChunkDoc): all of them, or else found by
 * bisection, O(log chunks) counts. Its samples: pcm16 holds two bytes a sample; an Opus
 * ChunkDoc carries its decoded `samples`, except one written before that field: those are
 * measured `MAX_CHUNKS_MEASURED_PER_ANSWER` at a time (`measureOldChunkRecords`), and an
 * answer that could not measure them all says how many its duration leaves out.
 */
export async function audioExtent(
  db: Firestore,
  bucket: Bucket,
  conversationId: string,
  format: { codec: Codec; sampleRate: SampleRate },
  logger: Logger,
): Promise<AudioExtent> {
  const below = async (n: number): Promise<number> =>
    n === 0 ? 0 : await chunkRecordsBelow(db, conversationId, n).count();
  const total = await chunkRecords(db, conversationId).count();
  const run = await largestHolding(total, async (n) => (await below(n)) === n);
  if (run === 0) return { endPosition: 0, durationMs: 0, unmeasuredChunks: 0 };
  const records = chunkRecordsBelow(db, conversationId, run);
  const [last, known] = await Promise.all([
    readChunkRecord(db, conversationId, run - 1),
    format.codec === "pcm16"
      ? records.sums("bytes").then(({ bytes }) => ({ samples: bytes.sum / 2, chunks: run }))
      : records.sums("samples").then(({ samples }) => ({ samples: samples.sum, chunks: samples.holding })),
  ]);
  const endPosition = last?.end ?? 0;
  let samples = known.samples;
  let unmeasuredChunks = run - known.chunks;
  if (unmeasuredChunks > 0) {
    const measured = await measureOldChunkRecords(db, { bucket, ...format }, conversationId, run, logger);
    samples += measured.samples;
    unmeasuredChunks -= measured.chunks;
  }
  return { endPosition, durationMs: (samples / format.sampleRate) * 1000, unmeasuredChunks };
}

/**
 * Up to `MAX_CHUNKS_MEASURED_PER_ANSWER` of the Opus chunk records below `run` that lack
 * `samples`, from the first of them (found by bisection on how many records below n hold
 * the field: Firestore cannot query a field's absence): their objects are read and their
 * samples written back, so each later answer measures the next ones, and once none is left
 * every answer counts and sums again.
 */
async function measureOldChunkRecords(
  db: Firestore,
  source: Pick<AudioSource, "bucket" | "codec" | "sampleRate">,
  conversationId: string,
  run: number,
  logger: Logger,
): Promise<{ chunks: number; samples: number }> {
  const holdingBelow = async (n: number): Promise<number> =>
    n === 0 ? 0 : (await chunkRecordsBelow(db, conversationId, n).sums("samples")).samples.holding;
  const first = await largestHolding(run, async (n) => (await holdingBelow(n)) === n);
  const window = await listChunkRecords(db, conversationId, chunkAudioFieldsSchema, {
    from: first,
    limit: Math.min(MAX_CHUNKS_MEASURED_PER_ANSWER, run - first),
  });
  const measured: MeasuredSamples[] = await Promise.all(
    window
      .filter((record) => record.samples === undefined)
      .map(async (record) => ({ index: record.index, samples: await storedChunkSamples(source, record) })),
  );
  await recordChunkSamples(db, conversationId, measured, logger);
  return { chunks: measured.length, samples: measured.reduce((sum, m) => sum + m.samples, 0) };
}
