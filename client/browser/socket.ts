/**
 * The SDK's socket in browsers: the native WebSocket. Browsers cannot set headers on a
 * WebSocket, so the browser entry point sends the token as the `access_token` query
 * parameter (PROTOCOL.md section 2) and this factory refuses header authentication.
 */
import type { SocketFactory, SocketLike } from "../socket";

export const browserSocketFactory: SocketFactory = (url, headers) => {
  if (Object.keys(headers).length > 0) {
    throw new TypeError('a browser WebSocket cannot send headers: use authVia: "query"');
  }
  return new WebSocket(url) as unknown as SocketLike;
};
