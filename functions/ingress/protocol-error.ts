/**
 * A refusal the client must hear about: an error code of the close-code table, a sentence
 * for a human, and any extra fields the error message carries (`expected_environment`...).
 */
import type { ErrorCode } from "../../shared/protocol";
import type { ErrorExtra } from "./socket";

export class ProtocolError extends Error {
  override name = "ProtocolError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly extra: ErrorExtra = {},
  ) {
    super(message);
  }
}
