/**
 * The client-facing contract of `GET /v1/listen` (PROTOCOL.md section 2) in code: query
 * parameters, the messages each side sends, and the close-code table with what a client
 * should do on each code. The ingress and the client SDK both import this file, so the
 * two ends of a socket cannot disagree about the wire format.
 *
 * Guarantees of PROTOCOL.md section 2 and how the ingress keeps them:
 * - No durable position is recorded, and no `ack` sent, past audio received after a text
 *   message that Pub/Sub has not confirmed (the count of confirmed events is recorded in
 *   the same write as the position: shared/lifecycle.ts). A client may therefore forget a
 *   text message once an `ack` arrives after it, and re-send it after a reconnect otherwise
 *   (re-sending is idempotent: segment ids replace, assignments repeat).
 * - The `conversation_finalized` error carries `final_position`, `durable_position` and
 *   `finalize_reason`, so a client whose `finalized` answer was lost with its socket can
 *   tell exactly whether everything it sent is in the conversation. It also carries
 *   `events_recorded` (tether's addition to PROTOCOL.md's fields; a client that does not
 *   know it loses nothing, it only reports such messages as not stored): per socket
 *   (`ready.session_id`), how many of the text messages received on it the conversation
 *   counts as published, in the order received. A client that
 *   numbers the text messages it sends on each socket can tell which of its unacknowledged
 *   messages are stored: without it, a `finalize` whose answer was lost would leave the
 *   client unsure of any text message sent after the last `ack`.
 * - A `segments` message with a segment that breaks the rules (a missing `id`, `start` or
 *   `end`, `end` before `start`, an id the stores cannot hold) is refused whole with 4400,
 *   naming the segment and the rule: nothing of it is stored, and the client fixes it. The
 *   optional fields take their defaults and unknown fields are ignored.
 *
 * Decisions where PROTOCOL.md leaves room:
 * - A client-chosen `conversation_id` without a resume token creates the conversation if
 *   this environment has no record of it. If the record exists, belongs to the caller and
 *   is in progress, the socket resumes it (`ready.position` is its durable position): a
 *   client that lost its first `ready`, and with it the resume token, can still continue.
 *   Another user's record is 4403, a finalized one 4410, one pinned to another environment
 *   4409. With a resume token, `conversation_id` must name the token's conversation (4400).
 * - A resumed conversation keeps the codec and sample rate it started with (4415 otherwise).
 * - A resume token that names another environment gets 4409 before the access token is
 *   looked at: a client that reached the wrong environment holds that environment's
 *   credentials too, and must be told where it belongs, not to re-authenticate here.
 * - Text frames are limited to `MAX_TEXT_FRAME_BYTES` (4413 beyond).
 * - Audio sent before `ready` is kept and continues from `ready.position`; clients should
 *   wait for `ready` when resuming, as they cannot know the position before.
 * - When a stream ends exactly on a chunk boundary, no chunk is marked `final`; the
 *   finalize event's `final_position` is authoritative.
 */
import { z } from "zod";
import { type Codec, codecSchema, SAMPLE_RATES, type SampleRate } from "./audio-format";
import { FINALIZE_REASONS } from "./conversation-values";
import { conversationIdSchema, personIdSchema, segmentIdSchema } from "./identifiers";
import { PROTOCOL_VERSION } from "./listen-request";
import { segmentSchema } from "./messages";
import { describeIssue } from "./schema-issues";

// The parts that need no schema library have homes of their own, which browser bundles
// read without this file: the close-code table (close-codes.ts), the request a client
// opens a socket with (listen-request.ts) and the largest audio frame (codecs.ts).
export * from "./close-codes";
export { maxAudioFrameBytes } from "./codecs";
export * from "./listen-request";

// ---------------------------------------------------------------- query

/** Reads a single query value; a repeated parameter is malformed. */
const single = z.string();

/** The query parameters of `GET /v1/listen`, as strings from the URL. */
export const listenQuerySchema = z.object({
  codec: single.optional(),
  sample_rate: single.optional(),
  channels: single.optional(),
  conversation_id: conversationIdSchema.optional(),
  resume_token: single.min(1).max(4096).optional(),
  access_token: single.min(1).max(8192).optional(),
});

/** The audio format part of the query; a value outside these is `bad_audio` (4415). */
export const audioFormatQuerySchema = z.object({
  codec: codecSchema.default("pcm16"),
  sample_rate: z
    .enum(SAMPLE_RATES.map(String) as [string, ...string[]])
    .default("16000")
    .transform((s) => Number(s) as SampleRate),
  channels: z.literal("1").default("1"),
});

export interface ListenQuery {
  readonly codec: Codec;
  readonly sampleRate: SampleRate;
  readonly channels: 1;
  readonly conversationId: string | undefined;
  readonly resumeToken: string | undefined;
  readonly accessToken: string | undefined;
}

export type QueryParseResult =
  | { ok: true; query: ListenQuery }
  | { ok: false; code: "bad_request" | "bad_audio"; message: string };

/** Validates the query of an upgrade request. Unknown parameters are ignored. */
export function parseListenQuery(params: URLSearchParams): QueryParseResult {
  const raw: Record<string, string> = {};
  for (const key of new Set(params.keys())) {
    const values = params.getAll(key);
    if (values.length > 1) return { ok: false, code: "bad_request", message: `query parameter ${key} is repeated` };
    raw[key] = values[0] ?? "";
  }
  const parsed = listenQuerySchema.safeParse(raw);
  if (!parsed.success) {
    return { ok: false, code: "bad_request", message: `query parameter ${describeIssue(parsed.error)}` };
  }
  const format = audioFormatQuerySchema.safeParse(parsed.data);
  if (!format.success) {
    const issue = format.error.issues[0];
    const name = String(issue?.path[0] ?? "format");
    return {
      ok: false,
      code: "bad_audio",
      message: `unsupported ${name} ${JSON.stringify(raw[name])}: codec is pcm16 or opus, sample_rate one of ${SAMPLE_RATES.join(", ")}, channels 1`,
    };
  }
  return {
    ok: true,
    query: {
      codec: format.data.codec,
      sampleRate: format.data.sample_rate,
      channels: 1,
      conversationId: parsed.data.conversation_id,
      resumeToken: parsed.data.resume_token,
      accessToken: parsed.data.access_token,
    },
  };
}

// ---------------------------------------------------------------- frame limits

/** Largest text frame the ingress accepts (segments messages); larger is `frame_too_large`. */
export const MAX_TEXT_FRAME_BYTES = 256 * 1024;

// ---------------------------------------------------------------- client -> server

export const segmentsMessageSchema = z.object({
  type: z.literal("segments"),
  segments: z.array(segmentSchema).min(1).max(1000),
});

export const speakerAssignedMessageSchema = z.object({
  type: z.literal("speaker_assigned"),
  person_id: personIdSchema,
  segment_ids: z.array(segmentIdSchema).min(1).max(1000),
});

export const finalizeMessageSchema = z.object({ type: z.literal("finalize") });

export const clientMessageSchema = z.discriminatedUnion("type", [
  segmentsMessageSchema,
  speakerAssignedMessageSchema,
  finalizeMessageSchema,
]);
export type ClientMessage = z.infer<typeof clientMessageSchema>;
export type SegmentsMessage = z.infer<typeof segmentsMessageSchema>;
export type SpeakerAssignedMessage = z.infer<typeof speakerAssignedMessageSchema>;

// ---------------------------------------------------------------- server -> client

/** A stream position: units (pcm16 bytes, Opus packets) from the conversation's start. */
const positionSchema = z.number().int().min(0);

export const readyMessageSchema = z.object({
  type: z.literal("ready"),
  protocol: z.literal(PROTOCOL_VERSION),
  environment: z.string().min(1),
  conversation_id: conversationIdSchema,
  session_id: z.string().min(1),
  resume_token: z.string().min(1),
  position_unit: z.enum(["byte", "packet"]),
  position: positionSchema,
  chunk_size: z.number().int().min(1),
});
export type ReadyMessage = z.infer<typeof readyMessageSchema>;

export const ackMessageSchema = z.object({ type: z.literal("ack"), position: positionSchema });
export type AckMessage = z.infer<typeof ackMessageSchema>;

export const finalizedMessageSchema = z.object({
  type: z.literal("finalized"),
  conversation_id: conversationIdSchema,
  position: positionSchema,
});
export type FinalizedMessage = z.infer<typeof finalizedMessageSchema>;

export const errorMessageSchema = z
  .object({
    type: z.literal("error"),
    code: z.string().min(1),
    message: z.string(),
    environment: z.string().optional(),
    expected_environment: z.string().optional(),
    /** With `conversation_finalized`: the conversation's length, what the server holds, and why it ended. */
    final_position: positionSchema.optional(),
    durable_position: positionSchema.optional(),
    finalize_reason: z.enum(FINALIZE_REASONS).optional(),
    /** With `conversation_finalized`: per socket, how many of its text messages are stored (1..n, in order). */
    events_recorded: z.record(z.string(), z.number().int().min(0)).optional(),
  })
  .loose();
export type ErrorMessage = z.infer<typeof errorMessageSchema>;

/** Why a socket is about to be closed (`goaway`). */
export const GOAWAY_REASONS = ["draining", "max_socket_age"] as const;
export type GoawayReason = (typeof GOAWAY_REASONS)[number];

/**
 * The socket will be closed within `close_in_ms`; the server keeps receiving and
 * acknowledging on it until then, and the client resumes on a new socket at once.
 */
export const goawayMessageSchema = z.object({
  type: z.literal("goaway"),
  reason: z.enum(GOAWAY_REASONS),
  close_in_ms: z.number().int().min(0),
});
export type GoawayMessage = z.infer<typeof goawayMessageSchema>;

export const serverMessageSchema = z.discriminatedUnion("type", [
  readyMessageSchema,
  ackMessageSchema,
  finalizedMessageSchema,
  errorMessageSchema,
  goawayMessageSchema,
]);
export type ServerMessage = z.infer<typeof serverMessageSchema>;
