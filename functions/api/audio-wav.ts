/**
 * `GET /v1/conversations/{id}/audio.wav`: the conversation so far as a PCM16 mono WAV,
 * streamed from the chunk objects, with single-range support (206 / 416).
 *
 * The response covers the audio persisted when the request arrived: the header's length
 * is exact for that snapshot, and a later request sees more while the conversation runs.
 * Chunks are immutable and the stream only grows at its end, so a PCM byte never changes
 * once served; the ETag names the snapshot, and `If-Range` with an older one gets the
 * whole file (RFC 9110 section 13.1.5) rather than a range under a stale header.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Firestore } from "@google-cloud/firestore";
import type { Bucket } from "@google-cloud/storage";
import type { ConversationDoc } from "../../shared/firestore-schema";
import type { Logger } from "../../shared/logger";
import { WAV_HEADER_BYTES, wavHeader } from "../../shared/wav";
import { contentRange, parseByteRange, unsatisfiedContentRange } from "./byte-range";
import { ApiError } from "./errors";
import { conversationAudio, readPcm } from "./served-audio";

/** Bytes [start, end] (inclusive) of header + PCM, one piece at a time. */
async function* wavBytes(
  header: Buffer,
  pcm: (from: number, to: number) => AsyncGenerator<Buffer>,
  start: number,
  end: number,
): AsyncGenerator<Buffer> {
  if (start < WAV_HEADER_BYTES) yield header.subarray(start, Math.min(end + 1, WAV_HEADER_BYTES));
  const from = Math.max(start, WAV_HEADER_BYTES) - WAV_HEADER_BYTES;
  const to = end + 1 - WAV_HEADER_BYTES;
  if (to > from) yield* pcm(from, to);
}

/**
 * The client hung up (players often do mid-file): the response closed before the body
 * ended. A failed read surfaces as its own error instead.
 */
function clientWentAway(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === "ERR_STREAM_PREMATURE_CLOSE";
}

export async function serveConversationWav(
  req: IncomingMessage,
  res: ServerResponse,
  deps: { db: Firestore; bucket: Bucket; logger: Logger },
  conversation: Pick<ConversationDoc, "id" | "codec" | "sample_rate">,
): Promise<void> {
  const audio = await conversationAudio(
    deps.db,
    deps.bucket,
    conversation.id,
    { codec: conversation.codec, sampleRate: conversation.sample_rate },
    deps.logger,
  );
  const header = wavHeader({ sampleRate: audio.sampleRate, channels: 1 }, audio.pcmBytes);
  const size = WAV_HEADER_BYTES + audio.pcmBytes;
  const etag = `"wav-${audio.spans.length}-${audio.pcmBytes}"`;
  const ifRange = req.headers["if-range"];
  const range =
    ifRange === undefined || ifRange === etag ? parseByteRange(req.headers.range, size) : ({ kind: "whole" } as const);
  if (range.kind === "unsatisfiable") {
    throw new ApiError(416, `the requested range is outside the ${size} bytes of this WAV`, {
      "content-range": unsatisfiedContentRange(size),
      "accept-ranges": "bytes",
    });
  }
  const [start, end] = range.kind === "partial" ? [range.start, range.end] : [0, size - 1];
  res.writeHead(range.kind === "partial" ? 206 : 200, {
    "content-type": "audio/wav",
    "content-length": String(end - start + 1),
    "accept-ranges": "bytes",
    "cache-control": "no-store",
    "content-disposition": `inline; filename="${conversation.id}.wav"`,
    etag,
    ...(range.kind === "partial" ? { "content-range": contentRange(range, size) } : {}),
  });
  if (req.method === "HEAD") {
    res.end();
    return;
  }
  const body = Readable.from(
    wavBytes(header, (from, to) => readPcm(deps.bucket, audio, from, to, deps.logger), start, end),
  );
  try {
    await pipeline(body, res);
  } catch (error) {
    if (clientWentAway(error)) {
      deps.logger.info(
        { conversation_id: conversation.id, range_start: start, range_end: end },
        "client closed the audio stream early",
      );
      return;
    }
    // The status line is gone: the only honest signal left is a cut connection.
    deps.logger.error(
      { err: error, conversation_id: conversation.id, range_start: start, range_end: end },
      "audio.wav stream failed; response cut short",
    );
    res.destroy();
  }
}
