/**
 * A conversation's chunk records (ChunkDocs, `chunks/{index}`) as its readers see them: the
 * one home of how they are queried, listed and read, and of how a listed run of them is laid
 * out in samples (`storedChunkSamples` is the one rule, old records included), and of
 * whether they cover a finalized conversation (`chunkCompleteness`). The API's WAV and
 * status, speaker extraction, the history and the completion check all read chunk records
 * through here, so a speaker sample is the same bytes as the WAV.
 */
import type { DocumentData, Firestore } from "@google-cloud/firestore";
import type { z } from "zod";
import { chunksUpTo } from "../shared/audio-format";
import { type IndexedQuery, queryOf } from "../shared/firestore-query";
import {
  type ChunkAudioFields,
  type ChunkDoc,
  COLLECTIONS,
  CONVERTERS,
  chunkAudioFieldsSchema,
  chunkRef,
  conversationRef,
  fieldsOf,
  parseDocument,
  readDocument,
} from "../shared/firestore-schema";
import { GrpcStatus, hasGrpcStatus } from "../shared/grpc-error";
import type { Logger } from "../shared/logger";
import { opusChunkSampleCount } from "../shared/opus-decoder";
import { type AudioSource, type LaidOutChunk, layOutChunks } from "./audio-stream";

/** Every chunk record of the conversation, as a query: counts and sums take their shape from here. */
export function chunkRecords(db: Firestore, conversationId: string): IndexedQuery<DocumentData> {
  return queryOf(conversationRef(db, conversationId).collection(COLLECTIONS.chunks));
}

/** The chunk records of indexes below `n`. */
export function chunkRecordsBelow(db: Firestore, conversationId: string, n: number): IndexedQuery<DocumentData> {
  return chunkRecords(db, conversationId).filter("index", "<", n);
}

/**
 * The conversation's chunk records in index order, each validated by `schema`, whose fields
 * are all that is read; those from index `from` on, at most `limit` of them.
 */
export async function listChunkRecords<T>(
  db: Firestore,
  conversationId: string,
  schema: z.ZodObject & z.ZodType<T>,
  range: { readonly from?: number; readonly limit?: number } = {},
): Promise<T[]> {
  let query = chunkRecords(db, conversationId);
  if (range.from !== undefined && range.from > 0) query = query.filter("index", ">=", range.from);
  query = query.order("index").select(...fieldsOf(schema));
  if (range.limit !== undefined) query = query.limit(range.limit);
  const snapshot = await query.get();
  return snapshot.docs.map((doc) => parseDocument(schema, doc.ref.path, doc.data()));
}

/** The chunk records of `indexes` that exist (a missing index is simply absent from the map). */
export async function readChunkRecords(
  db: Firestore,
  conversationId: string,
  indexes: readonly number[],
): Promise<Map<number, ChunkAudioFields>> {
  const unique = [...new Set(indexes)].sort((a, b) => a - b);
  if (unique.length === 0) return new Map();
  const snapshots = await db.getAll(...unique.map((index) => chunkRef(db, conversationId, index)));
  const records = new Map<number, ChunkAudioFields>();
  for (const snapshot of snapshots) {
    if (!snapshot.exists) continue;
    const record = parseDocument(chunkAudioFieldsSchema, snapshot.ref.path, snapshot.data());
    records.set(record.index, record);
  }
  return records;
}

/** The chunk record of `index`, or undefined where that chunk is not persisted. */
export async function readChunkRecord(
  db: Firestore,
  conversationId: string,
  index: number,
): Promise<ChunkDoc | undefined> {
  return (await readDocument(chunkRef(db, conversationId, index), CONVERTERS.chunk))?.data;
}

/**
 * PCM samples a stored chunk holds, the one rule for every reader: its record's `samples`;
 * for a record written before that field, pcm16 holds two bytes a sample and Opus what its
 * packets' TOC bytes say (the object is read: a packet need not be 20 ms).
 */
export async function storedChunkSamples(
  source: Pick<AudioSource, "bucket" | "codec" | "sampleRate">,
  record: Pick<ChunkAudioFields, "object" | "bytes" | "samples">,
): Promise<number> {
  if (record.samples !== undefined) return record.samples;
  if (source.codec === "pcm16") return record.bytes / 2;
  const [body] = await source.bucket.file(record.object).download();
  return opusChunkSampleCount(body, source.sampleRate);
}

/** A record's samples that `storedChunkSamples` found by reading its object (the record lacks them). */
export interface MeasuredSamples {
  readonly index: number;
  readonly samples: number;
}

/**
 * Places `records[i]` as chunk `i`, end to end by `storedChunkSamples` (one object read at a
 * time, for old records only); an absent record (a chunk not persisted) takes
 * `absentSamples`. Also returns what was measured, for `recordChunkSamples`.
 */
export async function layOutChunkRecords(
  source: Pick<AudioSource, "bucket" | "codec" | "sampleRate">,
  records: ReadonlyArray<ChunkAudioFields | undefined>,
  absentSamples = 0,
): Promise<{ spans: LaidOutChunk[]; measured: MeasuredSamples[] }> {
  const chunks: Omit<LaidOutChunk, "firstSample">[] = [];
  const measured: MeasuredSamples[] = [];
  for (const [index, record] of records.entries()) {
    const samples = record === undefined ? absentSamples : await storedChunkSamples(source, record);
    if (record !== undefined && record.samples === undefined) measured.push({ index, samples });
    chunks.push({ index, record, samples });
  }
  return { spans: layOutChunks(chunks), measured };
}

/**
 * Writes the `samples` that records from before that field lack, as `storedChunkSamples`
 * found them (the same value on every run), so later readers count and sum instead of
 * listing and downloading. A failure only costs a later reader the same listing again; a
 * record deleted meanwhile (the conversation was deleted) stays gone.
 */
export async function recordChunkSamples(
  db: Firestore,
  conversationId: string,
  found: readonly MeasuredSamples[],
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

export type ChunkCompleteness =
  | { readonly complete: true }
  | { readonly complete: false; readonly missing: number; readonly problem?: string };

/**
 * Whether persisted chunks cover exactly [0, finalPosition), from what the check reads:
 * how many ChunkDocs there are below ceil(finalPosition / chunkSize) (a ChunkDoc exists
 * once per index, so the count is exact however often a chunk was delivered), and the last
 * one, which must end at `finalPosition`. Pure.
 */
export function chunkCompleteness(
  finalPosition: number,
  chunkSize: number,
  stored: { readonly below: number; readonly last: Pick<ChunkDoc, "index" | "end"> | undefined },
): ChunkCompleteness {
  const expected = chunksUpTo(finalPosition, chunkSize);
  const last = expected.at(-1);
  if (stored.below < expected.length) return { complete: false, missing: expected.length - stored.below };
  if (last && stored.last && stored.last.end !== last.end) {
    return {
      complete: false,
      missing: 1,
      problem: `chunk ${last.index} ends at ${stored.last.end}, but the conversation's final position is ${last.end}`,
    };
  }
  return { complete: true };
}

/**
 * What `chunkCompleteness` needs, in two reads whatever the conversation's length: a count
 * of the ChunkDocs below `below` (billed one read per 1,000 entries) and the last one.
 */
export async function persistedChunks(
  db: Firestore,
  conversationId: string,
  below: number,
): Promise<{ below: number; last: Pick<ChunkDoc, "index" | "end"> | undefined }> {
  if (below === 0) return { below: 0, last: undefined };
  const [count, last] = await Promise.all([
    chunkRecordsBelow(db, conversationId, below).count(),
    readChunkRecord(db, conversationId, below - 1),
  ]);
  return { below: count, last };
}
