/**
 * What the close of the session's current socket means (PROTOCOL.md section 2, close codes),
 * as a pure decision: resume after a backoff, fetch a new token once, treat the conversation
 * as finalized, or stop with a `TetherError` that says what the server does not hold.
 */

import { clientActionForClose, ERROR_CODES, type ErrorMessage, errorCodeForClose } from "../shared/protocol";
import type { HeldTexts } from "../shared/text-ledger";
import { type NotStored, TetherError } from "./errors";
import type { ReplayBuffer } from "./replay-buffer";

export type CloseOutcome =
  | { readonly kind: "reconnect"; readonly overloaded: boolean }
  | { readonly kind: "reauthenticate" }
  | { readonly kind: "finalized"; readonly conversationId: string; readonly position: number }
  | { readonly kind: "fail"; readonly error: TetherError };

/** What the server lacks of what this client holds, from its durable position on. */
export function notStored(
  buffer: ReplayBuffer,
  texts: HeldTexts<string> | undefined,
  durable: number,
  maxFrameBytes: number,
): NotStored {
  const from = Math.max(durable, buffer.start);
  return {
    ...(from < buffer.end ? { audio: { from, to: buffer.end, bytes: buffer.framesFrom(from, maxFrameBytes) } } : {}),
    messages: texts ? texts.messages().map((json) => JSON.parse(json) as unknown) : [],
  };
}

export interface ClosedSocket {
  readonly code: number;
  readonly reason: string;
  /** The `error` message the server sent on it before closing it. */
  readonly error: ErrorMessage | undefined;
  /** A token that expired mid-conversation may be replaced, once per `ready`. */
  readonly mayReauthenticate: boolean;
  readonly conversationId: string | undefined;
  readonly buffer: ReplayBuffer;
  /** Held text messages; a 4410's `events_recorded` drops the ones it counts. */
  readonly texts: HeldTexts<string>;
  readonly maxFrameBytes: number;
}

export function closeOutcome(closed: ClosedSocket): CloseOutcome {
  const { code, reason, error } = closed;
  const action = clientActionForClose(code);
  switch (action) {
    case "resume":
    case "resume_after_delay":
      return { kind: "reconnect", overloaded: action === "resume_after_delay" };
    case "reauthenticate":
      if (closed.mayReauthenticate) return { kind: "reauthenticate" };
      break;
    case "per_limit":
      // Too many sockets at once (often dead ones whose leases have not expired yet): a
      // conversation already under way resumes after a delay; a new one is refused.
      if (error?.limit === "live_sockets" && closed.conversationId !== undefined)
        return { kind: "reconnect", overloaded: true };
      break;
    case "start_new_conversation": {
      const durable = error?.durable_position ?? error?.final_position;
      if (error?.code === "conversation_finalized" && durable !== undefined) return finalizedElsewhere(closed, durable);
      break;
    }
    default:
      break;
  }
  const announced = ERROR_CODES.find((known) => known === error?.code);
  const tetherCode = announced ?? errorCodeForClose(code) ?? "protocol_violation";
  const message =
    error?.message ??
    (code === 1000 ? "the server closed the socket without `finalized`" : `socket closed with ${code} ${reason}`);
  return {
    kind: "fail",
    error: new TetherError(tetherCode, message, {
      closeCode: code,
      ...(error?.expected_environment !== undefined ? { expectedEnvironment: error.expected_environment } : {}),
      ...(error?.environment !== undefined ? { environment: error.environment } : {}),
    }),
  };
}

/**
 * PROTOCOL section 2, 4410: finalized for this client only if the server holds everything
 * it holds and no text message awaits an acknowledgement. A held message that
 * `events_recorded` counts on one of the sockets it went out on is stored.
 */
function finalizedElsewhere(closed: ClosedSocket, durable: number): CloseOutcome {
  const error = closed.error as ErrorMessage;
  const { buffer, texts, conversationId } = closed;
  texts.recorded(error.events_recorded ?? {});
  // A deleted conversation's audio is gone: never report it as stored.
  if (
    error.finalize_reason !== "deleted" &&
    conversationId !== undefined &&
    durable >= buffer.end &&
    texts.size === 0 &&
    error.final_position === durable
  ) {
    return { kind: "finalized", conversationId, position: durable };
  }
  const lacking = notStored(buffer, texts, durable, closed.maxFrameBytes);
  const audio = lacking.audio ? `audio units [${lacking.audio.from}, ${lacking.audio.to})` : undefined;
  const textCount = lacking.messages.length > 0 ? `${lacking.messages.length} text message(s)` : undefined;
  return {
    kind: "fail",
    error: new TetherError(
      "conversation_finalized",
      `the conversation was finalized (${error.finalize_reason ?? "unknown reason"}) at ${durable}; not stored: ${[audio, textCount].filter(Boolean).join(" and ")}. Start a new conversation for them`,
      {
        closeCode: closed.code,
        notStored: lacking,
        durablePosition: durable,
        ...(error.finalize_reason !== undefined ? { finalizeReason: error.finalize_reason } : {}),
      },
    ),
  };
}
