/** The SDK's terminal errors: the session stops and reports one of these. */
import type { ErrorCode } from "../shared/protocol";

export type TetherErrorCode =
  /** A code of the protocol's close-code table. */
  | ErrorCode
  /** Too many consecutive connection attempts failed. */
  | "unreachable"
  /** The server's position does not fit the audio this client holds (the server lost acknowledged audio, or never had it). */
  | "position_mismatch"
  /** A reconnect reached a different environment or conversation than the session started on. */
  | "environment_changed"
  /** The server closed the socket in a way the protocol does not explain. */
  | "protocol_violation"
  /** The app closed the session. */
  | "closed"
  /** The SDK's store (file, IndexedDB) failed to keep audio; nothing after it was sent. */
  | "storage_failed";

/** What the server does not hold of what this client wrote. */
export interface NotStored {
  /** Audio units [from, to) of the conversation that are not stored. */
  readonly audio?: { readonly from: number; readonly to: number; readonly bytes: Uint8Array[] };
  /** Text messages (segments, speaker assignments) not acknowledged as stored. */
  readonly messages: readonly unknown[];
}

export class TetherError extends Error {
  override name = "TetherError";
  constructor(
    readonly code: TetherErrorCode,
    message: string,
    readonly details: {
      readonly closeCode?: number;
      /** With `wrong_environment`: the environment the conversation is pinned to. */
      readonly expectedEnvironment?: string;
      /** With `wrong_environment`: the environment that refused it. */
      readonly environment?: string;
      /**
       * When the conversation ended without everything this client held: exactly what the
       * server does not have (or cannot confirm), for the app to keep or send again.
       */
      readonly notStored?: NotStored;
      /** With `conversation_finalized`: the server stored the audio units [0, durablePosition), exactly. */
      readonly durablePosition?: number;
      /** With `conversation_finalized`: why the server finalized (`client`, `idle_timeout`). */
      readonly finalizeReason?: string;
    } = {},
  ) {
    super(message);
  }
}
