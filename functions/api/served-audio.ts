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
import { type LaidOutChunk, readPcmRange, streamSamples } from "../audio-stream";
import {
  chunkRecords,
  chunkRecordsBelow,
  layOutChunkRecords,
  listChunkRecords,
  readChunkRecord,
  recordChunkSamples,
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
export type AudioExtent = Pick<ConversationAudio, "endPosition" | "durationMs">;

/**
 * `conversationAudio`'s extent in a bounded number of reads, for the conversation's status
 * (GET /v1/conversations/{id}): counts and sums over the ChunkDocs (each billed one read per
 * 1,000 documents) and one ChunkDoc, never a listing. The contiguous run is the largest n
 * with n ChunkDocs below index n (an index has one ChunkDoc): all of them, or else found by
 * bisection, O(log chunks) counts. Its samples: pcm16 holds two bytes a sample; an Opus
 * ChunkDoc carries its decoded `samples`. Only if one from before that field is there is
 * its audio laid out chunk by chunk, as `conversationAudio` does: that one answer lists every
 * chunk record and downloads the objects of those without `samples`, then writes their
 * `samples` back, so each later answer is bounded again.
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
  let run = total;
  if (total > 0 && (await below(total)) !== total) {
    let [complete, incomplete] = [0, total]; // below(complete) === complete, below(incomplete) < incomplete
    while (incomplete - complete > 1) {
      const middle = Math.floor((complete + incomplete) / 2);
      if ((await below(middle)) === middle) complete = middle;
      else incomplete = middle;
    }
    run = complete;
  }
  if (run === 0) return { endPosition: 0, durationMs: 0 };
  const [last, sums] = await Promise.all([
    readChunkRecord(db, conversationId, run - 1),
    chunkRecordsBelow(db, conversationId, run).sums("bytes", "samples"),
  ]);
  const endPosition = last?.end ?? 0;
  let samples = format.codec === "pcm16" ? sums.bytes / 2 : sums.samples;
  if (format.codec === "opus" && (await chunkRecords(db, conversationId).filter("samples", ">=", 0).count()) < total) {
    samples = (await conversationAudio(db, bucket, conversationId, format, logger)).pcmBytes / 2;
  }
  return { endPosition, durationMs: (samples / format.sampleRate) * 1000 };
}
