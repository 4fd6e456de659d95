/**
 * How a conversation's chunk records are laid out in samples (functions/chunk-records.ts), old
 * records included, and when a finalizing conversation's chunks are complete.
 */
import { Storage } from "@google-cloud/storage";
import { chunkCompleteness, layOutChunkRecords } from "../../functions/chunk-records";
import type { ChunkAudioFields } from "../../shared/firestore-schema";

// No object is read below: a record with `samples`, and pcm16, are measured from the record.
const bucket = new Storage({ projectId: "unused" }).bucket("unused");

const record = (index: number, bytes: number, samples?: number): ChunkAudioFields => ({
  index,
  start: index * 100,
  end: index * 100 + 100,
  final: false,
  object: `c${index}`,
  bytes,
  ...(samples === undefined ? {} : { samples }),
});

describe("layOutChunkRecords", () => {
  it("places records by their samples, an old pcm16 record by its bytes, and reports what it measured", async () => {
    const { spans, measured } = await layOutChunkRecords({ bucket, codec: "pcm16", sampleRate: 16_000 }, [
      record(0, 200, 100),
      record(1, 120),
      record(2, 200, 100),
    ]);
    expect(spans.map((s) => [s.index, s.firstSample, s.samples])).toEqual([
      [0, 0, 100],
      [1, 100, 60],
      [2, 160, 100],
    ]);
    expect(measured).toEqual([{ index: 1, samples: 60 }]);
  });

  it("keeps an absent record's place with the samples it is given, and no object", async () => {
    const { spans, measured } = await layOutChunkRecords(
      { bucket, codec: "opus", sampleRate: 16_000 },
      [record(0, 50, 4_000), undefined, record(2, 50, 4_000)],
      320,
    );
    expect(spans.map((s) => [s.index, s.firstSample, s.record?.object, s.record?.index])).toEqual([
      [0, 0, "c0", 0],
      [1, 4_000, undefined, undefined],
      [2, 4_320, "c2", 2],
    ]);
    expect(measured).toEqual([]);
  });
});

const last = (index: number, end: number) => ({ index, end });

describe("chunkCompleteness", () => {
  it("is complete when every chunk up to the final position is there, the last one short", () => {
    expect(chunkCompleteness(25, 10, { below: 3, last: last(2, 25) })).toEqual({ complete: true });
  });

  it("is complete at once for a conversation without audio", () => {
    expect(chunkCompleteness(0, 10, { below: 0, last: undefined })).toEqual({ complete: true });
  });

  it("counts the missing chunks", () => {
    expect(chunkCompleteness(40, 10, { below: 2, last: undefined })).toEqual({ complete: false, missing: 2 });
  });

  it("is not complete when the last chunk ends elsewhere than the final position, and says why", () => {
    const result = chunkCompleteness(25, 10, { below: 3, last: last(2, 30) });
    expect(result).toEqual({ complete: false, missing: 1, problem: expect.stringContaining("final position is 25") });
  });
});
