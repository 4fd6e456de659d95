/**
 * The API's request-body gate, checked before anything reads a body.
 *
 * No route of the API takes a body, so none is ever read: a request that announces more
 * than `MAX_API_BODY_BYTES` is refused with 413 from its headers alone, and any other body
 * is left unread behind the answer (401, 405, ...). Node's server would otherwise drain an
 * unread body to keep the connection alive; `connection: close` makes it close the socket
 * instead, so an anonymous 32 MiB POST costs the instance its headers, not its body.
 *
 * The close lingers (RFC 9112 section 9.6): the answer and a FIN go out, nothing more is
 * read, and the socket is destroyed `LINGER_MS` later. Closing at once resets the connection
 * while the client is still sending, and a client whose write fails first never reads the
 * answer it was sent.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { ApiError } from "./errors";

/** The largest body a request may announce; a route that ever reads one must cap its read here too. */
export const MAX_API_BODY_BYTES = 64 * 1024;

/** How long a connection whose body was left unread stays half-open for its client to read the answer. */
export const LINGER_MS = 500;

/** Whether the request carries a body (a length above zero, or a transfer coding). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers["content-length"];
  return req.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0");
}

/**
 * Marks a request with a body to close its connection after the answer, and returns the 413
 * to answer when it announces more than the limit. Runs first, before CORS, authentication
 * and routing.
 */
export function gateBody(req: IncomingMessage, res: ServerResponse): ApiError | undefined {
  if (!hasBody(req)) return undefined;
  res.setHeader("connection", "close");
  res.once("finish", () => {
    if (!req.complete) linger(req.socket);
  });
  const length = Number(req.headers["content-length"]);
  if (Number.isFinite(length) && length > MAX_API_BODY_BYTES) {
    return new ApiError(413, `the request body (${length} bytes) exceeds ${MAX_API_BODY_BYTES} bytes`);
  }
  return undefined;
}

/**
 * Node ends the socket on `finish` and destroys it once its FIN is out: wait for the client
 * instead, reading nothing. Node's discard of the unread body resumes the socket in the
 * ticks after `finish`; pausing after them stops the read (the server's parser reads from
 * the handle, and stops it when the socket pauses).
 */
function linger(socket: Socket): void {
  if (socket.destroyed) return;
  socket.removeListener("finish", socket.destroy);
  setImmediate(() => socket.pause());
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once("close", () => clearTimeout(timer));
}
