/**
 * What client code imports from shared/protocol.ts, without the full schema library, for
 * browser bundles. The SDK's browser build (client/build/bundle.ts) and the console resolve
 * `shared/protocol` to this file when it is imported from client code, so the session's
 * code is the same in Node and in the browser. The close-code table, the query string and
 * the frame limits come from the same zod-free modules shared/protocol.ts re-exports; only
 * the validator of server messages is written again here, with zod/mini (same library,
 * tree-shakable API).
 *
 * test/unit/client-browser-protocol.test.ts holds this file to shared/protocol.ts: both
 * validators must give the same verdict on the same valid and malformed messages.
 */
import * as z from "zod/mini";
import { FINALIZE_REASONS } from "../../shared/conversation-values";
import { PROTOCOL_VERSION } from "../../shared/listen-request";
import type { ErrorMessage, ReadyMessage, ServerMessage } from "../../shared/protocol";

export * from "../../shared/close-codes";
export { maxAudioFrameBytes } from "../../shared/codecs";
export * from "../../shared/listen-request";
export type {
  AckMessage,
  ErrorMessage,
  FinalizedMessage,
  GoawayMessage,
  ReadyMessage,
  ServerMessage,
} from "../../shared/protocol";

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
  finalize_reason: z.optional(z.enum(FINALIZE_REASONS)),
  events_recorded: z.optional(z.record(z.string(), z.number().check(z.int(), z.minimum(0)))),
});

const miniServerMessageSchema = z.discriminatedUnion("type", [
  readyMessageSchema,
  z.object({ type: z.literal("ack"), position }),
  z.object({ type: z.literal("finalized"), conversation_id: conversationId, position }),
  errorMessageSchema,
  z.object({
    type: z.literal("goaway"),
    reason: z.enum(["draining", "max_socket_age"]),
    close_in_ms: z.number().check(z.int(), z.minimum(0)),
  }),
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
