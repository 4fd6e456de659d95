/**
 * What the protocol accepts in a client's frames (PROTOCOL.md section 2, "Client to
 * server"), as pure functions over the bytes: an audio frame is checked against its
 * conversation's codec, a text frame is parsed into a client message. Each answers with the
 * protocol error a refused frame earns (the code and the message the client reads), so the
 * socket that received the frame only has to act on the answer.
 */
import type { Codec } from "./audio-format";
import { checkOpusPacket } from "./opus-packet";
import {
  type ClientMessage,
  clientMessageSchema,
  type ErrorCode,
  MAX_TEXT_FRAME_BYTES,
  maxAudioFrameBytes,
} from "./protocol";

/** A frame the protocol refuses: the error code (and so the close code) and why. */
export interface FrameRefusal {
  readonly ok: false;
  readonly code: ErrorCode;
  readonly message: string;
}

export type AudioFrameCheck =
  /** Audio to add to the stream; `empty` for a pcm16 frame of no bytes (allowed, and nothing to add). */
  { readonly ok: true; readonly empty: boolean } | FrameRefusal;

export type ClientTextParse = { readonly ok: true; readonly message: ClientMessage } | FrameRefusal;

/** The answers for accepted frames, shared: a check runs for every audio frame. */
const AUDIO: AudioFrameCheck = { ok: true, empty: false };
const EMPTY_AUDIO: AudioFrameCheck = { ok: true, empty: true };

function refusal(code: ErrorCode, message: string): FrameRefusal {
  return { ok: false, code, message };
}

/**
 * Checks one binary frame of a `codec` conversation: at most the codec's frame size, whole
 * 16-bit samples for pcm16, one valid packet for Opus. `position` (the stream position the
 * frame would start at) names the packet in an Opus refusal.
 */
export function checkAudioFrame(frame: Uint8Array, codec: Codec, position: number): AudioFrameCheck {
  const limit = maxAudioFrameBytes(codec);
  if (frame.length > limit) {
    return refusal("frame_too_large", `a ${codec} frame holds at most ${limit} bytes; this one has ${frame.length}`);
  }
  if (codec === "pcm16") {
    if (frame.length % 2 !== 0) {
      return refusal("bad_audio", `pcm16 frames hold whole 16-bit samples; this one has ${frame.length} bytes`);
    }
    return frame.length === 0 ? EMPTY_AUDIO : AUDIO;
  }
  const check = checkOpusPacket(frame);
  if (!check.ok) return refusal("bad_audio", `invalid Opus packet at packet ${position}: ${check.reason}`);
  return AUDIO;
}

/** ` (segment "s7")` when a refused path points into a segments batch whose segment has an id. */
function namedSegment(json: unknown, path: readonly PropertyKey[] | undefined): string {
  if (path?.[0] !== "segments" || typeof path[1] !== "number") return "";
  const segments = (json as { segments?: unknown }).segments;
  const id = Array.isArray(segments) ? (segments[path[1]] as { id?: unknown } | undefined)?.id : undefined;
  return typeof id === "string" ? ` (segment ${JSON.stringify(id.slice(0, 128))})` : "";
}

/**
 * Parses one text frame (UTF-8 bytes) into a client message: at most `MAX_TEXT_FRAME_BYTES`,
 * JSON, and one of the messages of `clientMessageSchema`. A refusal names the first field
 * that breaks the schema, and the segment it belongs to when it has an id.
 */
export function parseClientText(data: Buffer): ClientTextParse {
  if (data.length > MAX_TEXT_FRAME_BYTES) {
    return refusal(
      "frame_too_large",
      `a text frame holds at most ${MAX_TEXT_FRAME_BYTES} bytes; this one has ${data.length}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(data.toString("utf8"));
  } catch {
    return refusal("bad_request", "a text frame is not JSON");
  }
  const parsed = clientMessageSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return refusal(
      "bad_request",
      `malformed message: ${issue?.path.join(".") || "message"}${namedSegment(json, issue?.path)} ${issue?.message ?? "is invalid"}`,
    );
  }
  return { ok: true, message: parsed.data };
}
