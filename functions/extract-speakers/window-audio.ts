/**
 * Cuts sample windows out of a conversation's stored chunks, sample-accurately, reading
 * only what a window needs, through the one reader of a conversation's audio
 * (functions/audio-stream.ts), so a sample equals the same bytes of the API's
 * `audio.wav`.
 *
 * pcm16: positions are bytes and chunk `i` holds bytes [i * chunk_size, (i + 1) * chunk_size)
 * of the stream, whichever socket session sent them, so the layout is arithmetic and only
 * the ChunkDocs of the windows' chunks are read; a window is read with ranged reads, exactly
 * its bytes, across chunk and session boundaries alike.
 *
 * opus: chunks are placed by their decoded sample counts (every ChunkDoc is read), and the
 * chunks a window touches are read whole and decoded, primed by the chunk before.
 *
 * Chunks that are not (yet) persisted are reported as missing ranges, never guessed.
 */
import type { Firestore } from "@google-cloud/firestore";
import type { Bucket } from "@google-cloud/storage";
import { OPUS_PACKETS_PER_SECOND } from "../../shared/audio-format";
import { chunkAudioFieldsSchema } from "../../shared/firestore-schema";
import {
  type AudioSource,
  ChunkMissingError,
  type LaidOutChunk,
  layOutChunks,
  piecesInRange,
  type ReadStats,
  readPcmRange,
  streamSamples,
} from "../audio-stream";
import { layOutChunkRecords, listChunkRecords, readChunkRecords } from "../chunk-records";
import type { ConversationState } from "./conversation-state";
import type { Interval } from "./select-samples";

export interface MissingRange {
  readonly start_ms: number;
  readonly end_ms: number;
  /** Chunk indexes not persisted, or whose object could not be read. */
  readonly chunks: number[];
}

export class AudioMissingError extends Error {
  override name = "AudioMissingError";
  constructor(readonly ranges: MissingRange[]) {
    super(
      `audio missing: ${ranges.map((r) => `${r.start_ms}-${r.end_ms} ms (chunks ${r.chunks.join(",")})`).join("; ")}`,
    );
  }
}

/** The windows' audio: what is missing of a window, and the window's PCM. */
export interface WindowAudio {
  /** Ranges of `window` whose chunks are not available; empty when it can be cut. */
  missing(window: Interval): MissingRange[];
  /** PCM16 little-endian mono bytes of `window`; throws `AudioMissingError` if an object is gone. */
  cut(window: Interval): Promise<Buffer>;
  readonly stats: ReadStats;
}

/** Whether the stored chunk of `span` holds every byte of a window ending at PCM byte `to` that falls in it. */
type Holds = (span: LaidOutChunk, to: number) => boolean;

/** Sample `ms` milliseconds into the stream (exact for every supported rate). */
export function msToSample(ms: number, sampleRate: number): number {
  return Math.round((ms * sampleRate) / 1000);
}

/** Merges per-chunk gaps into contiguous missing ranges. Pure. */
export function mergeMissing(spans: readonly { index: number; startMs: number; endMs: number }[]): MissingRange[] {
  const sorted = [...spans].sort((a, b) => a.index - b.index);
  const ranges: { start_ms: number; end_ms: number; chunks: number[] }[] = [];
  for (const span of sorted) {
    const last = ranges.at(-1);
    if (last !== undefined && span.startMs <= last.end_ms) {
      last.end_ms = Math.max(last.end_ms, span.endMs);
      last.chunks.push(span.index);
    } else {
      ranges.push({ start_ms: span.startMs, end_ms: span.endMs, chunks: [span.index] });
    }
  }
  return ranges;
}

/**
 * pcm16: every index up to the windows' last chunk, each `chunk_size` bytes; the records of
 * the windows' chunks only. Positions are bytes, so this agrees with `storedChunkSamples`
 * for every chunk a window can be cut from.
 */
async function pcm16Layout(
  db: Firestore,
  conversation: ConversationState,
  windows: readonly Interval[],
): Promise<{ spans: LaidOutChunk[]; holds: Holds }> {
  const { sampleRate, chunkSize } = conversation;
  const indexesOf = (w: Interval): number[] => {
    const from = msToSample(w.startMs, sampleRate) * 2;
    const to = msToSample(w.endMs, sampleRate) * 2;
    const out: number[] = [];
    for (let i = Math.floor(from / chunkSize); i * chunkSize < to; i += 1) out.push(i);
    return out;
  };
  const needed = windows.flatMap(indexesOf);
  const stored = await readChunkRecords(db, conversation.id, needed);
  const last = needed.reduce((max, i) => Math.max(max, i), -1);
  const chunks = Array.from({ length: last + 1 }, (_, index) => ({
    index,
    record: stored.get(index),
    samples: chunkSize / 2,
  }));
  const holds: Holds = ({ index, record: c }, to) =>
    c !== undefined && c.start === index * chunkSize && c.end >= Math.min(to, (index + 1) * chunkSize);
  return { spans: layOutChunks(chunks), holds };
}

/**
 * opus: every chunk record, placed by its sample count as the API's WAV places it
 * (`layOutChunkRecords`); 20 ms packets only where a chunk is not persisted (its span is
 * missing audio anyway).
 */
async function opusLayout(
  db: Firestore,
  bucket: Bucket,
  conversation: ConversationState,
): Promise<{ spans: LaidOutChunk[]; holds: Holds }> {
  const { sampleRate, chunkSize } = conversation;
  const stored = new Map(
    (await listChunkRecords(db, conversation.id, chunkAudioFieldsSchema)).map((record) => [record.index, record]),
  );
  const lastIndex = Math.max(
    -1,
    ...stored.keys(),
    conversation.finalPosition === null ? -1 : Math.ceil(conversation.finalPosition / chunkSize) - 1,
  );
  const records = Array.from({ length: lastIndex + 1 }, (_, index) => stored.get(index));
  const source = { bucket, codec: conversation.codec, sampleRate };
  const { spans } = await layOutChunkRecords(source, records, (chunkSize * sampleRate) / OPUS_PACKETS_PER_SECOND);
  return { spans, holds: (span) => span.record !== undefined };
}

/** Reads the chunk records the windows need (pcm16) or the chunk layout (opus). */
export async function openWindowAudio(
  db: Firestore,
  bucket: Bucket,
  conversation: ConversationState,
  windows: readonly Interval[],
): Promise<WindowAudio> {
  const { codec, sampleRate } = conversation;
  const { spans, holds } =
    codec === "pcm16" ? await pcm16Layout(db, conversation, windows) : await opusLayout(db, bucket, conversation);
  const total = streamSamples(spans);
  const source: AudioSource = { bucket, codec, sampleRate };
  const stats: ReadStats = { bytesRead: 0, objectReads: 0 };
  const spanMs = (s: LaidOutChunk) => ({
    index: s.index,
    startMs: Math.round((s.firstSample * 1000) / sampleRate),
    endMs: Math.round(((s.firstSample + s.samples) * 1000) / sampleRate),
  });
  const bytesOf = (w: Interval): [number, number] => [
    msToSample(w.startMs, sampleRate) * 2,
    msToSample(w.endMs, sampleRate) * 2,
  ];
  const missing = (w: Interval): MissingRange[] => {
    const [from, to] = bytesOf(w);
    const gaps = piecesInRange(spans, from, to)
      .filter((piece) => !holds(piece.span, to))
      .map((piece) => spanMs(piece.span));
    if (total * 2 < to)
      gaps.push({ index: spans.length, startMs: Math.round((total * 1000) / sampleRate), endMs: w.endMs });
    return mergeMissing(gaps);
  };
  return {
    stats,
    missing,
    async cut(w) {
      const gaps = missing(w);
      if (gaps.length > 0) throw new AudioMissingError(gaps);
      const [from, to] = bytesOf(w);
      const parts: Buffer[] = [];
      try {
        // A window is short: read its chunks at once. The chunk before only primes Opus; without it, decode unprimed.
        for await (const part of readPcmRange(source, spans, from, to, {
          readAhead: Number.POSITIVE_INFINITY,
          primerOptional: true,
          stats,
        })) {
          parts.push(part);
        }
      } catch (error) {
        const span = error instanceof ChunkMissingError ? spans[error.index] : undefined;
        if (span !== undefined) throw new AudioMissingError(mergeMissing([spanMs(span)]));
        throw error;
      }
      return Buffer.concat(parts);
    },
  };
}
