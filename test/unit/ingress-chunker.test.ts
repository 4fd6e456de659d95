import { Chunker, type CutChunk } from "../../functions/ingress/chunker";
import { frameOpusPackets, unframeOpusPackets } from "../../shared/audio-format";
import { seededRandom, testPcm } from "../support/ingress-audio";

/** Feeds `audio` from `start` in frames of random even sizes; returns the chunks made. */
function feed(chunker: Chunker, audio: Buffer, start: number, random: () => number): CutChunk[] {
  const chunks: CutChunk[] = [];
  let offset = start;
  while (offset < audio.length) {
    const size = Math.min(audio.length - offset, 2 * (1 + Math.floor(random() * 900)));
    chunks.push(...chunker.push(audio.subarray(offset, offset + size)));
    offset += size;
  }
  return chunks;
}

const summary = (chunks: CutChunk[]) => chunks.map((c) => [c.index, c.start, c.end, c.final, c.body.toString("hex")]);

describe("Chunker (pcm16)", () => {
  const audio = testPcm(10_000 + 600, 3);

  it("cuts the same chunks whatever the frame sizes", () => {
    const a = new Chunker("pcm16", 1000, 0);
    const b = new Chunker("pcm16", 1000, 0);
    const first = feed(a, audio, 0, seededRandom(1));
    const second = feed(b, audio, 0, seededRandom(2));
    expect(summary(first)).toEqual(summary(second));
    expect(first.map((c) => [c.index, c.start, c.end])).toEqual(
      Array.from({ length: 10 }, (_, i) => [i, i * 1000, (i + 1) * 1000]),
    );
    expect(Buffer.concat(first.map((c) => c.body)).equals(audio.subarray(0, 10_000))).toBe(true);
    expect(a.position).toBe(10_600);
    expect(a.bufferedBytes).toBe(600);
  });

  it("re-sent audio from a durable position forms byte-identical chunks", () => {
    const original = feed(new Chunker("pcm16", 1000, 0), audio, 0, seededRandom(3));
    const resumed = feed(new Chunker("pcm16", 1000, 4000), audio, 4000, seededRandom(4));
    expect(summary(resumed)).toEqual(summary(original.slice(4)));
  });

  it("ends with a short final chunk, or none on a boundary", () => {
    const chunker = new Chunker("pcm16", 1000, 0);
    feed(chunker, audio, 0, seededRandom(5));
    const final = chunker.takeFinal();
    expect(final).toMatchObject({ index: 10, start: 10_000, end: 10_600, final: true });
    expect(final?.body.equals(audio.subarray(10_000))).toBe(true);
    const exact = new Chunker("pcm16", 1000, 0);
    exact.push(audio.subarray(0, 2000));
    expect(exact.takeFinal()).toBeUndefined();
  });

  it("drops the partial chunk at a disconnect, and copies chunk bodies out of the frames", () => {
    const chunker = new Chunker("pcm16", 1000, 0);
    const frame = Buffer.from(audio.subarray(0, 1500));
    const [chunk] = chunker.push(frame);
    frame.fill(0);
    expect(chunk?.body.equals(audio.subarray(0, 1000))).toBe(true);
    expect(chunker.dropPartial()).toBe(500);
    expect(chunker.position).toBe(1000);
    expect(chunker.takeFinal()).toBeUndefined();
  });

  it("refuses to start anywhere but a chunk boundary", () => {
    expect(() => new Chunker("pcm16", 1000, 500)).toThrow(/chunk boundary/);
    expect(() => new Chunker("pcm16", 999, 0)).toThrow(/whole samples/);
  });
});

describe("Chunker (opus)", () => {
  it("counts packets and frames them with their lengths", () => {
    const packets = Array.from({ length: 7 }, (_, i) => Buffer.from([0xf8, i, i + 1].slice(0, 1 + (i % 3))));
    const chunker = new Chunker("opus", 3, 0);
    const chunks = packets.flatMap((p) => chunker.push(p));
    expect(chunks.map((c) => [c.index, c.start, c.end])).toEqual([
      [0, 0, 3],
      [1, 3, 6],
    ]);
    expect(chunks[1]?.body.equals(frameOpusPackets(packets.slice(3, 6)))).toBe(true);
    const final = chunker.takeFinal();
    expect(final).toMatchObject({ index: 2, start: 6, end: 7, final: true });
    expect(unframeOpusPackets(final?.body ?? Buffer.alloc(0))).toEqual([packets[6]]);
  });
});
