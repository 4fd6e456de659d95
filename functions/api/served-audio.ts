/**
 * What the API serves of a conversation's audio: the contiguous run of persisted chunks
 * from position 0, as one PCM16 stream (functions/audio-stream.ts lays it out and
 * reads it; speaker extraction reads the same stream through that module).
 *
 * The run stops at the first missing chunk (and after the final one), so its length is
 * known exactly from the ChunkDocs before any object is read. Any byte range of it is read
 * one chunk at a time, so memory stays at one chunk whatever the conversation's length.
 */
import type { Firestore } from "@google-cloud/firestore";
import type { Bucket } from "@google-cloud/storage";
import type { Codec, SampleRate } from "../../shared/audio-format";
import { queryOf } from "../../shared/firestore-query";
import {
  type ChunkDoc,
  COLLECTIONS,
  CONVERTERS,
  chunkDocSchema,
  chunkRef,
  conversationRef,
  parseDocument,
} from "../../shared/firestore-schema";
import { GrpcStatus, hasGrpcStatus } from "../../shared/grpc-error";
import type { Logger } from "../../shared/logger";
import { type ChunkSpan, layOutChunks, readPcmRange, storedChunkSamples, streamSamples } from "../audio-stream";

export interface ConversationAudio {
  readonly conversationId: string;
  readonly codec: Codec;
  readonly sampleRate: SampleRate;
  /** The contiguous chunks, laid out in the stream. */
  readonly spans: readonly ChunkSpan[];
  /** PCM16 bytes of the whole stream. */
  readonly pcmBytes: number;
  /** Position (units) the contiguous audio reaches. */
  readonly endPosition: number;
  readonly durationMs: number;
}

/** The fields the listing selects, validated as the full chunk schema would. */
const listedChunkSchema = chunkDocSchema.pick({
  index: true,
  object: true,
  end: true,
  final: true,
  bytes: true,
  samples: true,
});
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
 * Writes the `samples` that ChunkDocs from before that field lack, as `storedChunkSamples`
 * found them (the same value on every run), so the conversation's later answers count and
 * sum instead of listing and downloading (`audioExtent`). A failure only costs a later answer
 * the same listing again; a record deleted meanwhile (the conversation was deleted) stays gone.
 */
async function recordChunkSamples(
  db: Firestore,
  conversationId: string,
  found: ReadonlyArray<{ readonly index: number; readonly samples: number }>,
  logger: Logger,
): Promise<void> {
  if (found.length === 0) return;
  const writer = db.bulkWriter();
  writer.onWriteError(() => false);
  const writes = found.map(({ index, samples }) =>
    writer.update(chunkRef(db, conversationId, index), { samples }).then(
      () => true,
      (error: unknown) => {
        if (!hasGrpcStatus(error, GrpcStatus.NOT_FOUND)) {
          logger.warn(
            { conversation_id: conversationId, chunk_index: index, err: error },
            "could not record a chunk's samples on its record; its conversation's next answer lists its chunks again",
          );
        }
        return false;
      },
    ),
  );
  await writer.close();
  const recorded = (await Promise.all(writes)).filter(Boolean).length;
  logger.info(
    { conversation_id: conversationId, chunks: found.length, recorded },
    "recorded the samples of chunk records written before that field",
  );
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
  const snapshot = await queryOf(conversationRef(db, conversationId).collection(COLLECTIONS.chunks))
    .order("index")
    .select("index", "object", "end", "final", "bytes", "samples")
    .get();
  const listed = contiguousChunks(
    snapshot.docs.map((doc) => parseDocument(listedChunkSchema, doc.ref.path, doc.data())),
  );
  const facts = [];
  const found: Array<{ index: number; samples: number }> = [];
  for (const chunk of listed) {
    const samples = await storedChunkSamples({ bucket, ...format }, chunk);
    facts.push({ index: chunk.index, object: chunk.object, bytes: chunk.bytes, samples });
    if (chunk.samples === undefined) found.push({ index: chunk.index, samples });
  }
  if (logger !== undefined) await recordChunkSamples(db, conversationId, found, logger);
  const spans = layOutChunks(facts);
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
  const chunks = conversationRef(db, conversationId).collection(COLLECTIONS.chunks);
  const below = async (n: number): Promise<number> =>
    n === 0 ? 0 : await queryOf(chunks).filter("index", "<", n).count();
  const total = await queryOf(chunks).count();
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
    chunkRef(db, conversationId, run - 1)
      .withConverter(CONVERTERS.chunk)
      .get(),
    queryOf(chunks).filter("index", "<", run).sums("bytes", "samples"),
  ]);
  const endPosition = last.data()?.end ?? 0;
  let samples = format.codec === "pcm16" ? sums.bytes / 2 : sums.samples;
  if (format.codec === "opus" && (await queryOf(chunks).filter("samples", ">=", 0).count()) < total) {
    samples = (await conversationAudio(db, bucket, conversationId, format, logger)).pcmBytes / 2;
  }
  return { endPosition, durationMs: (samples / format.sampleRate) * 1000 };
}
