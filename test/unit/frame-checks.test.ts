/**
 * The checks on a client's frames (shared/frame-checks.ts): which audio frames a codec
 * accepts, how a text frame becomes a client message, and the protocol error (code and
 * wording) a refused frame earns.
 */
import OpusScript from "opusscript";
import { MAX_OPUS_PACKET_BYTES, MAX_PCM16_FRAME_BYTES } from "../../shared/audio-format";
import { checkAudioFrame, parseClientText } from "../../shared/frame-checks";
import { MAX_TEXT_FRAME_BYTES } from "../../shared/protocol";

function opusPacket(): Buffer {
  const encoder = new OpusScript(16000, 1, OpusScript.Application.VOIP);
  const pcm = Buffer.alloc(320 * 2);
  for (let i = 0; i < 320; i += 1)
    pcm.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 220 * i) / 16000)), i * 2);
  const packet = Buffer.from(encoder.encode(pcm, 320));
  encoder.delete();
  return packet;
}

const text = (value: unknown) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value));

describe("checkAudioFrame", () => {
  it("accepts pcm16 frames of whole samples up to the frame limit", () => {
    expect(checkAudioFrame(Buffer.alloc(2), "pcm16", 0)).toEqual({ ok: true, empty: false });
    expect(checkAudioFrame(Buffer.alloc(MAX_PCM16_FRAME_BYTES), "pcm16", 0)).toEqual({ ok: true, empty: false });
  });

  it("accepts an empty pcm16 frame as nothing to add", () => {
    expect(checkAudioFrame(Buffer.alloc(0), "pcm16", 10)).toEqual({ ok: true, empty: true });
  });

  it("refuses a pcm16 frame with half a sample as bad_audio", () => {
    expect(checkAudioFrame(Buffer.alloc(7), "pcm16", 0)).toEqual({
      ok: false,
      code: "bad_audio",
      message: "pcm16 frames hold whole 16-bit samples; this one has 7 bytes",
    });
  });

  it("refuses a frame over the codec's limit as frame_too_large, before looking inside", () => {
    expect(checkAudioFrame(Buffer.alloc(MAX_PCM16_FRAME_BYTES + 2), "pcm16", 0)).toEqual({
      ok: false,
      code: "frame_too_large",
      message: `a pcm16 frame holds at most ${MAX_PCM16_FRAME_BYTES} bytes; this one has ${MAX_PCM16_FRAME_BYTES + 2}`,
    });
    const tooLarge = checkAudioFrame(Buffer.alloc(MAX_OPUS_PACKET_BYTES + 1), "opus", 0);
    expect(tooLarge.ok === false && tooLarge.code).toBe("frame_too_large");
  });

  it("accepts a packet an Opus encoder made", () => {
    expect(checkAudioFrame(opusPacket(), "opus", 3)).toEqual({ ok: true, empty: false });
  });

  it("refuses an invalid Opus packet as bad_audio, naming the packet's position in the stream", () => {
    const empty = checkAudioFrame(Buffer.alloc(0), "opus", 42);
    expect(empty.ok).toBe(false);
    if (empty.ok) return;
    expect(empty.code).toBe("bad_audio");
    expect(empty.message).toMatch(/^invalid Opus packet at packet 42: ./);
  });

  it("checks the frame against the conversation's codec, not its bytes alone", () => {
    // An odd-length Opus packet is fine as Opus, and half a sample as pcm16.
    const packet = opusPacket().subarray(0, 1);
    expect(checkAudioFrame(packet, "opus", 0).ok).toBe(true);
    expect(checkAudioFrame(packet, "pcm16", 0).ok).toBe(false);
  });
});

describe("parseClientText", () => {
  it("parses each client message", () => {
    expect(parseClientText(text({ type: "finalize" }))).toEqual({ ok: true, message: { type: "finalize" } });
    expect(parseClientText(text({ type: "speaker_assigned", person_id: "p1", segment_ids: ["s1", "s2"] }))).toEqual({
      ok: true,
      message: { type: "speaker_assigned", person_id: "p1", segment_ids: ["s1", "s2"] },
    });
    const segments = parseClientText(text({ type: "segments", segments: [{ id: "s1", start: 0, end: 1.5 }] }));
    expect(segments).toEqual({
      ok: true,
      message: {
        type: "segments",
        segments: [{ id: "s1", start: 0, end: 1.5, text: "", speaker: null, is_user: false, person_id: null }],
      },
    });
  });

  it("refuses a text frame over the limit as frame_too_large, without parsing it", () => {
    const big = Buffer.alloc(MAX_TEXT_FRAME_BYTES + 1, 0x20);
    expect(parseClientText(big)).toEqual({
      ok: false,
      code: "frame_too_large",
      message: `a text frame holds at most ${MAX_TEXT_FRAME_BYTES} bytes; this one has ${MAX_TEXT_FRAME_BYTES + 1}`,
    });
  });

  it("refuses a frame that is not JSON as bad_request", () => {
    expect(parseClientText(text("{not json"))).toEqual({
      ok: false,
      code: "bad_request",
      message: "a text frame is not JSON",
    });
  });

  it("names the field that breaks the schema", () => {
    const unknownType = parseClientText(text({ type: "hello" }));
    expect(unknownType.ok === false && unknownType.code).toBe("bad_request");
    expect(unknownType.ok === false && unknownType.message).toMatch(/^malformed message: type /);
    const notObject = parseClientText(text("42"));
    expect(notObject.ok === false && notObject.message).toMatch(/^malformed message: message /);
  });

  it("names the segment, by its id, whose field breaks a rule", () => {
    const parsed = parseClientText(
      text({
        type: "segments",
        segments: [
          { id: "s1", start: 0, end: 1 },
          { id: "s7", start: 4, end: 2 },
        ],
      }),
    );
    expect(parsed).toEqual({
      ok: false,
      code: "bad_request",
      message: 'malformed message: segments.1.end (segment "s7") end must not be before start',
    });
  });

  it("does not name a segment that has no id", () => {
    const parsed = parseClientText(text({ type: "segments", segments: [{ start: 0, end: 1 }] }));
    expect(parsed.ok === false && parsed.message).toMatch(/^malformed message: segments\.0\.id [^(]/);
  });
});
