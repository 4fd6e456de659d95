/**
 * What the API serves of a conversation's audio: the contiguous run of persisted chunks
 * from position 0, as one PCM16 stream (functions/conversation-audio.ts lays it out and
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
import { type ChunkDoc, COLLECTIONS, conversationRef } from "../../shared/firestore-schema";
import type { Logger } from "../../shared/logger";
import { opusChunkSampleCount } from "../../shared/opus-decoder";
import { type ChunkSpan, layOutChunks, readPcmRange, streamSamples } from "../conversation-audio";

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

type ListedChunk = Pick<ChunkDoc, "index" | "object" | "end" | "final" | "bytes" | "samples">;

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

async function sampleCount(bucket: Bucket, codec: Codec, sampleRate: SampleRate, chunk: ListedChunk): Promise<number> {
  if (chunk.samples !== undefined) return chunk.samples;
  // ChunkDocs from before `samples` existed: count from the bytes.
  if (codec === "pcm16") return chunk.bytes / 2;
  const [body] = await bucket.file(chunk.object).download();
  return opusChunkSampleCount(body, sampleRate);
}

/** Lists the conversation's contiguous chunks and lays them out as one PCM16 stream. */
export async function conversationAudio(
  db: Firestore,
  bucket: Bucket,
  conversationId: string,
  format: { codec: Codec; sampleRate: SampleRate },
): Promise<ConversationAudio> {
  const snapshot = await queryOf(conversationRef(db, conversationId).collection(COLLECTIONS.chunks))
    .order("index")
    .select("index", "object", "end", "final", "bytes", "samples")
    .get();
  const listed = contiguousChunks(snapshot.docs.map((doc) => doc.data() as ListedChunk));
  const facts = [];
  for (const chunk of listed) {
    const samples = await sampleCount(bucket, format.codec, format.sampleRate, chunk);
    facts.push({ index: chunk.index, object: chunk.object, bytes: chunk.bytes, samples });
  }
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
