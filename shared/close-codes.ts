/**
 * The close-code table of `GET /v1/listen` (PROTOCOL.md section 2, "Close codes"): each
 * error code, the WebSocket close code it closes with, and what a client should do then.
 * It needs no schema library, so the ingress, the Node SDK (through shared/protocol.ts) and
 * the browser SDK (through client/browser/protocol.ts, which keeps zod's full API out of
 * browser bundles) all read this one table.
 */

/** What a client should do when its socket closes with a code (the table's last column). */
export type ClientAction =
  /** The conversation is over; nothing more to do. */
  | "stop"
  /** Reconnect to the same URL with the resume token and re-send from `ready.position`. */
  | "resume"
  /** Resume, but only after a delay: the server is overloaded. */
  | "resume_after_delay"
  /** Another socket owns the conversation now; this one must not reconnect. */
  | "stop_socket"
  /** The client sent something the protocol forbids; reconnecting would repeat it. */
  | "fix_client"
  /** Obtain a new access token. */
  | "reauthenticate"
  /** Reconnect to the environment named by `expected_environment`; never continue here. */
  | "reconnect_pinned_environment"
  /** Start a new conversation. */
  | "start_new_conversation"
  /**
   * A per-user limit (`too_many`): the error's `limit` says which. Sockets and the rate of new
   * conversations: resume after a delay; a conversation's size: start a new conversation.
   */
  | "per_limit";

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
  "too_many",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface CloseCodeEntry {
  readonly closeCode: number;
  readonly action: ClientAction;
}

/** PROTOCOL.md section 2, "Close codes": error code -> WebSocket close code and client action. */
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
  too_many: { closeCode: 4429, action: "per_limit" },
};

/** The normal close after `finalized`. */
export const CLOSE_FINALIZED = 1000;

/** The error code a close code stands for, if it is one of the table's. */
export function errorCodeForClose(closeCode: number): ErrorCode | undefined {
  return ERROR_CODES.find((code) => CLOSE_CODES[code].closeCode === closeCode);
}

/**
 * What a client should do after a close with `closeCode`. Codes outside the table
 * (1001 going away, 1005 no status, 1006 abnormal: the network dropped) are resumable.
 */
export function clientActionForClose(closeCode: number): ClientAction {
  if (closeCode === CLOSE_FINALIZED) return "stop";
  const code = errorCodeForClose(closeCode);
  return code === undefined ? "resume" : CLOSE_CODES[code].action;
}
