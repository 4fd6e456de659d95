/**
 * The SDK's socket in browsers: the native WebSocket. Browsers cannot set headers on a
 * WebSocket other than the subprotocols it offers, so the browser entry point sends the
 * token as `tether.bearer.<jwt>` beside `tether.v1` (PROTOCOL.md section 2), never in the
 * URL, and this factory refuses header authentication.
 */
import type { SocketFactory, SocketLike } from "../socket";

export const browserSocketFactory: SocketFactory = (url, headers, protocols) => {
  if (Object.keys(headers).length > 0) {
    throw new TypeError('a browser WebSocket cannot send headers: use authVia: "protocol"');
  }
  return new WebSocket(url, protocols === undefined ? [] : [...protocols]) as unknown as SocketLike;
};
