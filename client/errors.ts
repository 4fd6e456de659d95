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
  | "closed";

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
    } = {},
  ) {
    super(message);
  }
}
