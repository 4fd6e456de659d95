/**
 * A conversation's audio as one PCM16 stream, read from its chunk objects.
 *
 * The stream is the contiguous run of persisted chunks from position 0: it stops at the
 * first missing chunk (and after the final one), so its length is known exactly from the
 * ChunkDocs before any object is read. Any byte range of it is read chunk by chunk, with
 * ranged object reads for pcm16, so memory stays at one chunk whatever the conversation's
 * length. Opus chunks are decoded per chunk (primed by the previous chunk's tail), so a
 * range decodes to the same bytes as the whole stream does.
 *
 * The API's `audio.wav` reads audio through this module; speaker extraction has its own
 * reader, functions/extract-speakers/conversation-audio.ts.
 */
import type { Firestore } from "@google-cloud/firestore";
import type { Bucket } from "@google-cloud/storage";
import type { Codec, SampleRate } from "../../shared/audio-format";
import { type ChunkDoc, COLLECTIONS, conversationRef } from "../../shared/firestore-schema";
import type { Logger } from "../../shared/logger";
import { decodeOpusChunk, opusChunkSampleCount } from "../../shared/opus-decoder";

export interface AudioChunkSpan {
  readonly index: number;
  readonly object: string;
  /** Stream position (bytes or packets) one past the chunk's last unit. */
  readonly end: number;
  /** Byte offset of the chunk's first PCM16 byte in the stream. */
  readonly pcmOffset: number;
  readonly pcmBytes: number;
}

export interface ConversationAudio {
  readonly conversationId: string;
  readonly codec: Codec;
  readonly sampleRate: SampleRate;
  readonly chunks: readonly AudioChunkSpan[];
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
  const snapshot = await conversationRef(db, conversationId)
    .collection(COLLECTIONS.chunks)
    .orderBy("index")
    .select("index", "object", "end", "final", "bytes", "samples")
    .get();
  const listed = contiguousChunks(snapshot.docs.map((doc) => doc.data() as ListedChunk));
  const chunks: AudioChunkSpan[] = [];
  let pcmOffset = 0;
  for (const chunk of listed) {
    const pcmBytes = (await sampleCount(bucket, format.codec, format.sampleRate, chunk)) * 2;
    chunks.push({ index: chunk.index, object: chunk.object, end: chunk.end, pcmOffset, pcmBytes });
    pcmOffset += pcmBytes;
  }
  return {
    conversationId,
    codec: format.codec,
    sampleRate: format.sampleRate,
    chunks,
    pcmBytes: pcmOffset,
    endPosition: chunks.at(-1)?.end ?? 0,
    durationMs: (pcmOffset / 2 / format.sampleRate) * 1000,
  };
}

async function* readObjectRange(
  bucket: Bucket,
  object: string,
  start: number,
  endExclusive: number,
): AsyncGenerator<Buffer> {
  if (endExclusive <= start) return;
  // Ranged reads cannot be hash-validated (the hash covers the whole object).
  const stream = bucket.file(object).createReadStream({ start, end: endExclusive - 1, validation: false });
  let received = 0;
  for await (const piece of stream) {
    const buffer = piece as Buffer;
    received += buffer.length;
    yield buffer;
  }
  if (received !== endExclusive - start) {
    throw new Error(
      `object ${object} returned ${received} bytes for range [${start}, ${endExclusive}), expected ${endExclusive - start}`,
    );
  }
}

/**
 * PCM16 bytes [from, to) of the stream, one chunk at a time. Throws if an object is
 * shorter than its ChunkDoc says (the response is then cut, never padded with guesses).
 */
export async function* readPcm(
  bucket: Bucket,
  audio: ConversationAudio,
  from: number,
  to: number,
  logger: Logger,
): AsyncGenerator<Buffer> {
  let previousOpusBody: Buffer | undefined;
  let previousIndex = -1;
  for (const chunk of audio.chunks) {
    const chunkEnd = chunk.pcmOffset + chunk.pcmBytes;
    if (chunkEnd <= from) continue;
    if (chunk.pcmOffset >= to) break;
    const start = Math.max(from, chunk.pcmOffset) - chunk.pcmOffset;
    const end = Math.min(to, chunkEnd) - chunk.pcmOffset;
    if (audio.codec === "pcm16") {
      yield* readObjectRange(bucket, chunk.object, start, end);
      continue;
    }
    const [body] = await bucket.file(chunk.object).download();
    let priming: Buffer | undefined;
    if (chunk.index > 0) {
      const previous = audio.chunks[chunk.index - 1];
      priming =
        previousIndex === chunk.index - 1
          ? previousOpusBody
          : previous
            ? (await bucket.file(previous.object).download())[0]
            : undefined;
    }
    const decoded = decodeOpusChunk(body, audio.sampleRate, priming);
    if (decoded.failedPackets > 0) {
      logger.error(
        { conversation_id: audio.conversationId, chunk_index: chunk.index, failed_packets: decoded.failedPackets },
        "opus packets failed to decode; their span is silence in the WAV",
      );
    }
    previousOpusBody = body;
    previousIndex = chunk.index;
    yield decoded.pcm.subarray(start, end);
  }
}
