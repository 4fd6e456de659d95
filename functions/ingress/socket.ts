/**
 * The server side of one WebSocket, speaking the protocol's error convention: an `error`
 * message, then the close code of the table (shared/protocol.ts).
 *
 * ws's frame parser rejects some input itself (a message over `maxPayload`, invalid UTF-8
 * in a text frame, a broken frame) and closes with 1009 / 1007 / 1002. The protocol wants
 * `frame_too_large` (4413) and `bad_request` (4400) for those, so this subclass turns the
 * parser's close into the protocol's; a client's own close frame is echoed unchanged.
 */
import WebSocket from "ws";
import { CLOSE_CODES, type ErrorCode } from "../../shared/protocol";

/** ws's parser close codes -> the protocol error they mean. */
const PARSER_ERRORS: Readonly<Record<number, { code: ErrorCode; message: string }>> = {
  1009: { code: "frame_too_large", message: "the frame is larger than this ingress accepts" },
  1007: { code: "bad_request", message: "a text frame is not valid UTF-8" },
  1002: { code: "bad_request", message: "the WebSocket frame is malformed" },
};

/** Extra fields of an error message: strings, numbers, and counts by key (`events_recorded`). */
export type ErrorExtra = Readonly<Record<string, string | number | Readonly<Record<string, number>>>>;

/** A message's bytes, however ws delivered them. */
export function frameBytes(data: WebSocket.RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

export class IngressSocket extends WebSocket {
  /** Told when ws's parser refused a frame (for the log line), before the socket closes. */
  parserErrorListener: ((code: ErrorCode, message: string) => void) | undefined;
  /** The protocol error this socket was closed with, if any. */
  closedWith: ErrorCode | undefined;

  /** Sends `{"type":"error",...}` and closes with the table's code; no-op unless open. */
  closeWithError(code: ErrorCode, message: string, extra: ErrorExtra = {}): void {
    if (this.readyState !== WebSocket.OPEN) return;
    this.closedWith = code;
    this.send(JSON.stringify({ type: "error", code, message, ...extra }));
    super.close(CLOSE_CODES[code].closeCode, code);
  }

  /** Sends one JSON message if the socket is open; returns whether it was sent. */
  sendJson(message: Readonly<Record<string, unknown>>): boolean {
    if (this.readyState !== WebSocket.OPEN) return false;
    this.send(JSON.stringify(message));
    return true;
  }

  override close(code?: number, data?: string | Buffer): void {
    const parserError = code === undefined ? undefined : PARSER_ERRORS[code];
    if (parserError && this.closedWith === undefined && !this.closeFrameReceived()) {
      this.parserErrorListener?.(parserError.code, parserError.message);
      this.closeWithError(parserError.code, parserError.message);
      return;
    }
    super.close(code, data);
  }

  private closeFrameReceived(): boolean {
    // ws keeps this flag private; it tells a client's close frame (echoed as is) from the
    // parser's own close. Pinned by test/unit/ingress-socket.test.ts.
    return (this as unknown as { _closeFrameReceived?: boolean })._closeFrameReceived === true;
  }
}
