/**
 * The parts of shared/protocol.ts that the client session uses, without the full schema
 * library, for browser bundles. The SDK's browser build (client/build.ts) and the console
 * resolve `shared/protocol` to this file when it is imported from client code, so the
 * session's code is the same in Node and in the browser; only the validator of server
 * messages is smaller here (zod/mini: same library, tree-shakable API).
 *
 * test/unit/client-browser-protocol.test.ts holds this file to shared/protocol.ts: the
 * close-code table, the query string, the frame limits, and the verdict of both validators
 * on the same valid and malformed messages must agree.
 */
import * as z from "zod/mini";
import type { Codec, SampleRate } from "../../shared/audio-format";
import type {
  ClientAction,
  CloseCodeEntry,
  ErrorCode,
  ErrorMessage,
  ReadyMessage,
  ServerMessage,
} from "../../shared/protocol";
import { MAX_OPUS_PACKET_BYTES, MAX_PCM16_FRAME_BYTES } from "./audio-format";

export type {
  AckMessage,
  ClientAction,
  CloseCodeEntry,
  ErrorCode,
  ErrorMessage,
  FinalizedMessage,
  ReadyMessage,
  ServerMessage,
} from "../../shared/protocol";

export const PROTOCOL_VERSION = 1;

export const ERROR_CODES = [
  "internal",
  "restarting",
  "overloaded",
  "superseded",
  "bad_request",
  "unauthorized",
  "forbidden",
  "wrong_environment",
  "conversation_finalized",
  "frame_too_large",
  "bad_audio",
] as const satisfies readonly ErrorCode[];

export const CLOSE_CODES: Readonly<Record<ErrorCode, CloseCodeEntry>> = {
  internal: { closeCode: 1011, action: "resume" },
  restarting: { closeCode: 1012, action: "resume" },
  overloaded: { closeCode: 1013, action: "resume_after_delay" },
  superseded: { closeCode: 4001, action: "stop_socket" },
  bad_request: { closeCode: 4400, action: "fix_client" },
  unauthorized: { closeCode: 4401, action: "reauthenticate" },
  forbidden: { closeCode: 4403, action: "stop" },
  wrong_environment: { closeCode: 4409, action: "reconnect_pinned_environment" },
  conversation_finalized: { closeCode: 4410, action: "start_new_conversation" },
  frame_too_large: { closeCode: 4413, action: "fix_client" },
  bad_audio: { closeCode: 4415, action: "fix_client" },
};

export const CLOSE_FINALIZED = 1000;

export function errorCodeForClose(closeCode: number): ErrorCode | undefined {
  return ERROR_CODES.find((code) => CLOSE_CODES[code].closeCode === closeCode);
}

export function clientActionForClose(closeCode: number): ClientAction {
  if (closeCode === CLOSE_FINALIZED) return "stop";
  const code = errorCodeForClose(closeCode);
  return code === undefined ? "resume" : CLOSE_CODES[code].action;
}

export function listenQueryString(query: {
  codec: Codec;
  sampleRate: SampleRate;
  conversationId?: string | undefined;
  resumeToken?: string | undefined;
  accessToken?: string | undefined;
}): string {
  const params = new URLSearchParams({ codec: query.codec, sample_rate: String(query.sampleRate), channels: "1" });
  if (query.conversationId !== undefined) params.set("conversation_id", query.conversationId);
  if (query.resumeToken !== undefined) params.set("resume_token", query.resumeToken);
  if (query.accessToken !== undefined) params.set("access_token", query.accessToken);
  return params.toString();
}

export function maxAudioFrameBytes(codec: Codec): number {
  return codec === "pcm16" ? MAX_PCM16_FRAME_BYTES : MAX_OPUS_PACKET_BYTES;
}

// ---------------------------------------------------------------- server -> client

const position = z.number().check(z.int(), z.minimum(0));
const conversationId = z.string().check(z.regex(/^[A-Za-z0-9_-]{8,64}$/));
const nonEmpty = z.string().check(z.minLength(1));

const readyMessageSchema = z.object({
  type: z.literal("ready"),
  protocol: z.literal(PROTOCOL_VERSION),
  environment: nonEmpty,
  conversation_id: conversationId,
  session_id: nonEmpty,
  resume_token: nonEmpty,
  position_unit: z.enum(["byte", "packet"]),
  position,
  chunk_size: z.number().check(z.int(), z.minimum(1)),
});

const errorMessageSchema = z.looseObject({
  type: z.literal("error"),
  code: nonEmpty,
  message: z.string(),
  environment: z.optional(z.string()),
  expected_environment: z.optional(z.string()),
  final_position: z.optional(position),
  durable_position: z.optional(position),
  finalize_reason: z.optional(z.enum(["client", "idle_timeout"])),
});

const miniServerMessageSchema = z.discriminatedUnion("type", [
  readyMessageSchema,
  z.object({ type: z.literal("ack"), position }),
  z.object({ type: z.literal("finalized"), conversation_id: conversationId, position }),
  errorMessageSchema,
]);

// The shapes must stay the ones shared/protocol.ts declares (checked by the compiler here).
const _ready: ReadyMessage = {} as z.infer<typeof readyMessageSchema>;
const _error: ErrorMessage = {} as z.infer<typeof errorMessageSchema>;
void _ready;
void _error;

export type ServerMessageParse =
  | { readonly success: true; readonly data: ServerMessage }
  | { readonly success: false; readonly error: { readonly issues: ReadonlyArray<{ readonly message: string }> } };

/** The same `safeParse` the session calls on shared/protocol.ts's schema. */
export const serverMessageSchema = {
  safeParse(value: unknown): ServerMessageParse {
    const result = miniServerMessageSchema.safeParse(value);
    return result.success
      ? { success: true, data: result.data as ServerMessage }
      : { success: false, error: result.error };
  },
};
