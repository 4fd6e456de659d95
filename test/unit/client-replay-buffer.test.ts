import { ReplayBuffer } from "../../client/replay-buffer";

const bytes = (from: number, n: number) => Uint8Array.from({ length: n }, (_, i) => (from + i) % 256);
const flat = (frames: Uint8Array[]) => Buffer.concat(frames.map((f) => Buffer.from(f)));

describe("ReplayBuffer (bytes)", () => {
  it("re-sends from any position it holds, in frames no larger than asked", () => {
    const buffer = new ReplayBuffer("byte", 10_000);
    buffer.append(bytes(0, 300));
    buffer.append(bytes(300, 500));
    expect(buffer.end).toBe(800);
    const frames = buffer.framesFrom(250, 200);
    expect(frames.every((f) => f.length <= 200)).toBe(true);
    expect(flat(frames).equals(Buffer.from(bytes(250, 550)))).toBe(true);
    expect(buffer.framesFrom(800, 200)).toEqual([]);
  });

  it("drops acknowledged audio, cutting inside an entry", () => {
    const buffer = new ReplayBuffer("byte", 10_000);
    buffer.append(bytes(0, 300));
    buffer.append(bytes(300, 500));
    buffer.acknowledge(450);
    expect(buffer.start).toBe(450);
    expect(buffer.bytes).toBe(350);
    expect(flat(buffer.framesFrom(450, 1000)).equals(Buffer.from(bytes(450, 350)))).toBe(true);
    expect(() => buffer.framesFrom(400, 1000)).toThrow(/outside/);
    buffer.acknowledge(100); // older acks change nothing
    expect(buffer.start).toBe(450);
  });

  it("is bounded", () => {
    const buffer = new ReplayBuffer("byte", 1000);
    buffer.append(bytes(0, 900));
    expect(buffer.fits(100)).toBe(true);
    expect(buffer.fits(101)).toBe(false);
    buffer.acknowledge(500);
    expect(buffer.fits(500)).toBe(true);
  });

  it("continues a conversation resumed at a later position", () => {
    const buffer = new ReplayBuffer("byte", 1000);
    buffer.rebase(3200);
    expect(buffer.append(bytes(0, 10))).toBe(3200);
    expect(buffer.end).toBe(3210);
    expect(() => buffer.rebase(0)).toThrow();
  });
});

describe("ReplayBuffer (packets)", () => {
  it("counts one unit per packet and re-sends whole packets", () => {
    const buffer = new ReplayBuffer("packet", 10_000);
    const packets = [bytes(0, 40), bytes(1, 90), bytes(2, 10)];
    for (const p of packets) buffer.append(p);
    expect(buffer.end).toBe(3);
    expect(buffer.framesFrom(1, 16)).toEqual(packets.slice(1));
    buffer.acknowledge(2);
    expect(buffer.bytes).toBe(10);
    expect(buffer.framesFrom(2, 16)).toEqual(packets.slice(2));
  });
});
