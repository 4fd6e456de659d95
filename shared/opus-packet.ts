/**
 * Opus packet validation: the packet framing rules of RFC 6716 section 3.4 (R1 to R7).
 *
 * These are exactly the checks libopus makes before it decodes (`opus_packet_parse`): past
 * the framing, the SILK and CELT decoders accept any bytes, so decoding a packet tells
 * nothing more about its validity than this parse does, at a fraction of the cost
 * (the ingress validates every packet of every stream). The unit tests cross-check this
 * parser against a real decoder (opusscript, libopus compiled to wasm).
 * https://www.rfc-editor.org/rfc/rfc6716#section-3.4
 */

/** R2: no frame may be longer than 1275 bytes. */
const MAX_FRAME_BYTES = 1275;
/** R5: a packet holds at most 120 ms of audio. */
const MAX_PACKET_DURATION_US = 120_000;

export interface OpusPacketInfo {
  /** TOC configuration number, 0..31 (mode, bandwidth and frame duration). */
  readonly config: number;
  readonly stereo: boolean;
  readonly frameCount: number;
  /** Duration of one frame in microseconds (2,500 to 60,000). */
  readonly frameDurationUs: number;
  /** Duration of the packet in microseconds. */
  readonly durationUs: number;
}

export type OpusPacketCheck = { ok: true; info: OpusPacketInfo } | { ok: false; reason: string };

/** Frame duration of a TOC configuration (RFC 6716 table 2), in microseconds. */
export function opusFrameDurationUs(config: number): number {
  if (config < 12) return [10_000, 20_000, 40_000, 60_000][config % 4] ?? 0; // SILK-only
  if (config < 16) return [10_000, 20_000][config % 2] ?? 0; // Hybrid
  return [2_500, 5_000, 10_000, 20_000][config % 4] ?? 0; // CELT-only
}

/** What the TOC byte (section 3.1) and, for code 3, the frame count byte say of a packet. */
export interface OpusToc {
  readonly config: number;
  readonly stereo: boolean;
  /** Frame packing: 0 one frame, 1 two equal, 2 two different, 3 arbitrary (count byte). */
  readonly code: number;
  /** Frames in the packet (0 for a code-3 packet that says 0). */
  readonly frameCount: number;
  readonly frameDurationUs: number;
}

/**
 * The packet's TOC, the one parse of it the ingress's check and the decoder's sample count
 * share; a reason instead for an empty packet or a code-3 packet without its count byte.
 */
export function readOpusToc(packet: Uint8Array): OpusToc | { readonly problem: string } {
  const toc = packet[0];
  if (toc === undefined) return { problem: "empty packet (R1: a packet holds at least one byte)" };
  const code = toc & 0x03;
  let frameCount = code === 0 ? 1 : 2;
  if (code === 3) {
    const countByte = packet[1];
    if (countByte === undefined) return { problem: "code 3 packet without a frame count byte (R5)" };
    frameCount = countByte & 0x3f;
  }
  const config = toc >> 3;
  return { config, stereo: (toc & 0x04) !== 0, code, frameCount, frameDurationUs: opusFrameDurationUs(config) };
}

const fail = (reason: string): OpusPacketCheck => ({ ok: false, reason });

/**
 * Reads a frame length coded in one or two bytes (section 3.2.1) at `offset`.
 * Returns [length, bytes used], or undefined if the packet ends first.
 */
function readFrameLength(packet: Uint8Array, offset: number): [number, number] | undefined {
  const first = packet[offset];
  if (first === undefined) return undefined;
  if (first < 252) return [first, 1];
  const second = packet[offset + 1];
  if (second === undefined) return undefined;
  return [second * 4 + first, 2];
}

/** Checks one Opus packet against RFC 6716 section 3.4; never throws. */
export function checkOpusPacket(packet: Uint8Array): OpusPacketCheck {
  const length = packet.length;
  const toc = readOpusToc(packet);
  if ("problem" in toc) return fail(toc.problem);
  const { config, stereo, code, frameDurationUs } = toc;
  const ok = (frameCount: number): OpusPacketCheck => ({
    ok: true,
    info: { config, stereo, frameCount, frameDurationUs, durationUs: frameCount * frameDurationUs },
  });

  if (code === 0) {
    if (length - 1 > MAX_FRAME_BYTES) return fail(`frame of ${length - 1} bytes exceeds 1275 (R2)`);
    return ok(1);
  }
  if (code === 1) {
    if ((length - 1) % 2 !== 0) return fail("code 1 packet with an odd payload length (R3)");
    if ((length - 1) / 2 > MAX_FRAME_BYTES) return fail(`frames of ${(length - 1) / 2} bytes exceed 1275 (R3)`);
    return ok(2);
  }
  if (code === 2) {
    const coded = readFrameLength(packet, 1);
    if (coded === undefined) return fail("code 2 packet ends inside its first frame length (R4)");
    const [first, used] = coded;
    const remaining = length - 1 - used;
    if (first > remaining) return fail("code 2 first frame is longer than the packet (R4)");
    if (first > MAX_FRAME_BYTES || remaining - first > MAX_FRAME_BYTES)
      return fail("code 2 frame exceeds 1275 bytes (R4)");
    return ok(2);
  }

  // Code 3: a frame-count byte, optional padding, then CBR or VBR frames.
  const countByte = packet[1] ?? 0; // present: readOpusToc checked it
  const vbr = (countByte & 0x80) !== 0;
  const padded = (countByte & 0x40) !== 0;
  const frameCount = countByte & 0x3f;
  if (frameCount === 0) return fail("code 3 packet with zero frames (R5)");
  if (frameCount * frameDurationUs > MAX_PACKET_DURATION_US) {
    return fail(`code 3 packet of ${(frameCount * frameDurationUs) / 1000} ms exceeds 120 ms (R5)`);
  }
  let offset = 2;
  let padding = 0;
  if (padded) {
    // Each 255 means 254 bytes of padding plus another length byte (section 3.2.5).
    for (;;) {
      const byte = packet[offset];
      if (byte === undefined) return fail("code 3 packet ends inside its padding length (R6/R7)");
      offset += 1;
      padding += byte === 255 ? 254 : byte;
      if (byte !== 255) break;
    }
  }
  let available = length - offset - padding;
  if (available < 0) return fail("code 3 padding is longer than the packet (R6/R7)");
  if (!vbr) {
    if (available % frameCount !== 0) return fail("code 3 CBR payload does not divide into equal frames (R6)");
    if (available / frameCount > MAX_FRAME_BYTES) return fail("code 3 CBR frame exceeds 1275 bytes (R6)");
    return ok(frameCount);
  }
  for (let i = 0; i < frameCount - 1; i += 1) {
    const coded = readFrameLength(packet, offset);
    if (coded === undefined) return fail("code 3 VBR packet ends inside a frame length (R7)");
    const [frame, used] = coded;
    offset += used;
    available -= used;
    if (frame > MAX_FRAME_BYTES) return fail("code 3 VBR frame exceeds 1275 bytes (R7)");
    if (frame > available) return fail("code 3 VBR frames are longer than the packet (R7)");
    available -= frame;
  }
  if (available < 0) return fail("code 3 VBR frame lengths exceed the packet (R7)");
  if (available > MAX_FRAME_BYTES) return fail("code 3 VBR last frame exceeds 1275 bytes (R7)");
  return ok(frameCount);
}
