/**
 * Cuts sample windows out of a conversation's stored chunks, sample-accurately, reading
 * only what a window needs.
 *
 * pcm16: positions are bytes and chunk `i` holds bytes [i * chunk_size, (i + 1) * chunk_size)
 * of the stream, whichever socket session sent them, so a window maps to byte ranges of one
 * or more chunk objects and is read with ranged reads: exactly the window's bytes, across
 * chunk and session boundaries alike.
 *
 * opus: chunk objects hold framed packets, which cannot be entered mid-way, so the chunks a
 * window touches are read whole and decoded with `shared/opus-decoder.ts`, each primed by the
 * tail of the chunk before it (as the API's `audio.wav` decodes them, so a sample equals
 * that file's bytes). Chunks are placed in time by their decoded sample counts.
 *
 * Chunks that are not (yet) persisted are reported as missing ranges, never guessed.
 */
import type { Firestore } from "@google-cloud/firestore";
import type { Bucket } from "@google-cloud/storage";
import { OPUS_PACKETS_PER_SECOND } from "../../shared/audio-format";
import { decodeOpusChunk } from "../../shared/opus-decoder";
import { type ConversationState, loadAllChunks, loadChunks, type StoredChunk } from "./conversation-state";
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

export interface ReadStats {
  /** Bytes downloaded from chunk objects. */
  bytesRead: number;
  objectReads: number;
}

export interface ConversationAudio {
  /** Ranges of `window` whose chunks are not available; empty when it can be cut. */
  missing(window: Interval): MissingRange[];
  /** PCM16 little-endian mono bytes of `window`; throws `AudioMissingError` if an object is gone. */
  cut(window: Interval): Promise<Buffer>;
  readonly stats: ReadStats;
}

/** A chunk's span in PCM samples of the decoded stream. */
interface ChunkSpan {
  readonly index: number;
  readonly firstSample: number;
  readonly samples: number;
  readonly stored: StoredChunk | undefined;
}

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

function isNotFound(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === 404;
}

async function download(
  bucket: Bucket,
  chunk: StoredChunk,
  stats: ReadStats,
  range?: [number, number],
): Promise<Buffer> {
  try {
    const [body] = await bucket
      .file(chunk.object)
      // `end` is inclusive; ranged reads cannot be hash-validated (the hash covers the whole object).
      .download(range ? { start: range[0], end: range[1] - 1, validation: false } : {});
    stats.bytesRead += body.length;
    stats.objectReads += 1;
    const expected = range ? range[1] - range[0] : chunk.bytes;
    if (body.length !== expected) {
      throw new Error(`object ${chunk.object} returned ${body.length} bytes, expected ${expected}`);
    }
    return body;
  } catch (error) {
    if (isNotFound(error)) throw new AudioMissingError([{ start_ms: -1, end_ms: -1, chunks: [chunk.index] }]);
    throw error;
  }
}

/** pcm16: the layout is arithmetic; only the ChunkDocs of the windows' chunks are read. */
async function pcm16Audio(
  db: Firestore,
  bucket: Bucket,
  conversation: ConversationState,
  windows: readonly Interval[],
): Promise<ConversationAudio> {
  const { sampleRate, chunkSize } = conversation;
  const bytesOf = (w: Interval): [number, number] => [
    msToSample(w.startMs, sampleRate) * 2,
    msToSample(w.endMs, sampleRate) * 2,
  ];
  const indexesOf = (w: Interval): number[] => {
    const [from, to] = bytesOf(w);
    const out: number[] = [];
    for (let i = Math.floor(from / chunkSize); i * chunkSize < to; i += 1) out.push(i);
    return out;
  };
  const chunks = await loadChunks(db, conversation.id, windows.flatMap(indexesOf));
  const stats: ReadStats = { bytesRead: 0, objectReads: 0 };
  const chunkMs = (i: number, edge: number): number => Math.round(((i + edge) * chunkSize * 1000) / 2 / sampleRate);
  const missing = (w: Interval): MissingRange[] => {
    const [, to] = bytesOf(w);
    const gaps = indexesOf(w).filter((i) => {
      const c = chunks.get(i);
      // A chunk must hold every byte of the window that falls in it.
      return c === undefined || c.start !== i * chunkSize || c.end < Math.min(to, (i + 1) * chunkSize);
    });
    return mergeMissing(gaps.map((i) => ({ index: i, startMs: chunkMs(i, 0), endMs: chunkMs(i, 1) })));
  };
  return {
    stats,
    missing,
    async cut(w) {
      const gaps = missing(w);
      if (gaps.length > 0) throw new AudioMissingError(gaps);
      const [from, to] = bytesOf(w);
      const parts = await Promise.all(
        indexesOf(w).map((i) => {
          const c = chunks.get(i) as StoredChunk;
          const local: [number, number] = [Math.max(from, c.start) - c.start, Math.min(to, c.end) - c.start];
          return download(bucket, c, stats, local).catch((error: unknown) => {
            if (error instanceof AudioMissingError) {
              throw new AudioMissingError(mergeMissing([{ index: i, startMs: chunkMs(i, 0), endMs: chunkMs(i, 1) }]));
            }
            throw error;
          });
        }),
      );
      return Buffer.concat(parts, to - from);
    },
  };
}

/** opus: chunks are placed by their decoded lengths, read whole, and decoded primed. */
async function opusAudio(db: Firestore, bucket: Bucket, conversation: ConversationState): Promise<ConversationAudio> {
  const { sampleRate, chunkSize } = conversation;
  const stored = await loadAllChunks(db, conversation.id);
  const lastIndex = Math.max(
    -1,
    ...stored.keys(),
    conversation.finalPosition === null ? -1 : Math.ceil(conversation.finalPosition / chunkSize) - 1,
  );
  // Packets are 20 ms where a chunk's own count is unknown (not persisted, or written before `samples`).
  const assumedSamples = (c: StoredChunk | undefined): number =>
    ((c ? c.end - c.start : chunkSize) * sampleRate) / OPUS_PACKETS_PER_SECOND;
  const spans: ChunkSpan[] = [];
  let offset = 0;
  for (let index = 0; index <= lastIndex; index += 1) {
    const c = stored.get(index);
    const samples = c?.samples ?? assumedSamples(c);
    spans.push({ index, firstSample: offset, samples, stored: c });
    offset += samples;
  }
  const stats: ReadStats = { bytesRead: 0, objectReads: 0 };
  const spansOf = (w: Interval): ChunkSpan[] => {
    const from = msToSample(w.startMs, sampleRate);
    const to = msToSample(w.endMs, sampleRate);
    return spans.filter((s) => s.firstSample < to && s.firstSample + s.samples > from);
  };
  const spanMs = (s: ChunkSpan) => ({
    index: s.index,
    startMs: Math.round((s.firstSample * 1000) / sampleRate),
    endMs: Math.round(((s.firstSample + s.samples) * 1000) / sampleRate),
  });
  const missing = (w: Interval): MissingRange[] => {
    const needed = spansOf(w);
    const to = msToSample(w.endMs, sampleRate);
    const beyond = (spans.at(-1)?.firstSample ?? 0) + (spans.at(-1)?.samples ?? 0) < to;
    const gaps = needed.filter((s) => s.stored === undefined).map(spanMs);
    if (beyond) gaps.push({ index: spans.length, startMs: Math.round((offset * 1000) / sampleRate), endMs: w.endMs });
    return mergeMissing(gaps);
  };
  return {
    stats,
    missing,
    async cut(w) {
      const gaps = missing(w);
      if (gaps.length > 0) throw new AudioMissingError(gaps);
      const from = msToSample(w.startMs, sampleRate);
      const to = msToSample(w.endMs, sampleRate);
      const needed = spansOf(w);
      const bodies = new Map<number, Buffer>();
      const load = async (s: ChunkSpan): Promise<void> => {
        if (s.stored === undefined || bodies.has(s.index)) return;
        try {
          bodies.set(s.index, await download(bucket, s.stored, stats));
        } catch (error) {
          if (error instanceof AudioMissingError) throw new AudioMissingError(mergeMissing([spanMs(s)]));
          throw error;
        }
      };
      const first = needed[0];
      const primer = first !== undefined && first.index > 0 ? spans[first.index - 1] : undefined;
      await Promise.all([...needed.map(load), primer ? load(primer).catch(() => undefined) : Promise.resolve()]);
      const parts: Buffer[] = [];
      for (const s of needed) {
        const decoded = decodeOpusChunk(bodies.get(s.index) as Buffer, sampleRate, bodies.get(s.index - 1));
        const localFrom = Math.max(from, s.firstSample) - s.firstSample;
        const localTo = Math.min(to, s.firstSample + s.samples) - s.firstSample;
        parts.push(decoded.pcm.subarray(localFrom * 2, localTo * 2));
      }
      const pcm = Buffer.concat(parts);
      if (pcm.length !== (to - from) * 2) {
        throw new Error(`decoded ${pcm.length / 2} samples for a window of ${to - from} samples`);
      }
      return pcm;
    },
  };
}

/** Reads the ChunkDocs the windows need (pcm16) or the chunk layout (opus). */
export async function openConversationAudio(
  db: Firestore,
  bucket: Bucket,
  conversation: ConversationState,
  windows: readonly Interval[],
): Promise<ConversationAudio> {
  return conversation.codec === "pcm16"
    ? await pcm16Audio(db, bucket, conversation, windows)
    : await opusAudio(db, bucket, conversation);
}
