/**
 * The Opus packet check against a real decoder (opusscript: libopus compiled to wasm):
 * packets the encoder makes pass; for random and mutated packets, the check and the
 * decoder agree on which are valid.
 */
import OpusScript from "opusscript";
import { checkOpusPacket, opusFrameDurationUs } from "../../shared/opus-packet";
import { seededRandom } from "../support/ingress-audio";

const RATE = 16000;
const FRAME = 320; // 20 ms

function encodedPackets(count: number): Buffer[] {
  const encoder = new OpusScript(RATE, 1, OpusScript.Application.VOIP);
  const packets: Buffer[] = [];
  const pcm = Buffer.alloc(FRAME * 2);
  for (let p = 0; p < count; p += 1) {
    for (let i = 0; i < FRAME; i += 1) {
      pcm.writeInt16LE(Math.round(9000 * Math.sin((2 * Math.PI * (180 + p * 7) * (p * FRAME + i)) / RATE)), i * 2);
    }
    packets.push(Buffer.from(encoder.encode(pcm, FRAME)));
  }
  encoder.delete();
  return packets;
}

/** Whether libopus decodes the packet (its only validity test is the packet parse). */
function decoderAccepts(decoder: OpusScript, packet: Buffer): boolean {
  try {
    decoder.decode(packet);
    return true;
  } catch {
    return false;
  }
}

describe("checkOpusPacket", () => {
  it("accepts what an Opus encoder produces, and reads its duration", () => {
    for (const packet of encodedPackets(25)) {
      const check = checkOpusPacket(packet);
      expect(check).toMatchObject({ ok: true, info: { durationUs: 20_000 } });
    }
  });

  it.each([
    ["an empty packet", []],
    ["a code 1 packet with an odd payload", [0x01, 1, 2, 3]],
    ["a code 2 packet whose first frame is longer than the packet", [0x02, 10, 1, 2]],
    ["a code 3 packet with zero frames", [0x03, 0x00]],
    ["a code 3 packet over 120 ms", [0x1b, 0x07]], // config 3 = 60 ms SILK, 7 frames
    ["a code 3 packet without its count byte", [0x03]],
    ["a code 3 CBR packet that does not divide", [0x03, 0x02, 1, 2, 3]],
    ["a code 3 packet with more padding than bytes", [0x03, 0x41, 200, 1]],
    ["a code 0 frame over 1275 bytes", [0x00, ...new Array(1276).fill(1)]],
  ])("refuses %s", (_name, bytes) => {
    const check = checkOpusPacket(Uint8Array.from(bytes));
    expect(check.ok).toBe(false);
  });

  it("knows the frame durations of RFC 6716 table 2", () => {
    expect([0, 1, 2, 3].map(opusFrameDurationUs)).toEqual([10_000, 20_000, 40_000, 60_000]);
    expect([12, 13].map(opusFrameDurationUs)).toEqual([10_000, 20_000]);
    expect([16, 17, 18, 19, 31].map(opusFrameDurationUs)).toEqual([2_500, 5_000, 10_000, 20_000, 20_000]);
  });

  it("agrees with the libopus decoder on random and mutated packets", () => {
    const decoder = new OpusScript(RATE, 1);
    const random = seededRandom(6716);
    const valid = encodedPackets(10);
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < 3000; i += 1) {
      let packet: Buffer;
      const base = valid[i % valid.length] ?? Buffer.alloc(1);
      if (i % 3 === 0) {
        // random bytes of random length
        packet = Buffer.from(Array.from({ length: 1 + Math.floor(random() * 40) }, () => Math.floor(random() * 256)));
      } else if (i % 3 === 1) {
        // a real packet with its TOC and framing bytes replaced
        packet = Buffer.from(base);
        packet[0] = Math.floor(random() * 256);
        if (packet.length > 1) packet[1] = Math.floor(random() * 256);
      } else {
        // a real packet cut short, with a random TOC code
        packet = Buffer.from(base.subarray(0, 1 + Math.floor(random() * base.length)));
        packet[0] = ((packet[0] ?? 0) & 0xfc) | Math.floor(random() * 4);
      }
      const ours = checkOpusPacket(packet).ok;
      expect({ packet: packet.toString("hex"), ok: ours }).toEqual({
        packet: packet.toString("hex"),
        ok: decoderAccepts(decoder, packet),
      });
      if (ours) accepted += 1;
      else refused += 1;
    }
    // Both outcomes were exercised, so the agreement means something.
    expect(accepted).toBeGreaterThan(300);
    expect(refused).toBeGreaterThan(300);
    decoder.delete();
  });
});
