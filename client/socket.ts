/**
 * The WebSocket the SDK drives: the WHATWG interface that browsers and React Native
 * provide, which the `ws` package implements too. This file imports nothing, so the
 * session runs anywhere; the Node socket (`ws`, token in the `Authorization` header) is
 * node-socket.ts and the browser's native one is browser/socket.ts (token offered in
 * `Sec-WebSocket-Protocol`, as browsers cannot set other headers on a WebSocket).
 */

export interface SocketLike {
  readonly readyState: number;
  binaryType: string;
  send(data: string | ArrayBufferView | ArrayBuffer): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  /** Node's `ws` only: drop the connection without a close handshake. */
  terminate?: () => void;
}

/** WHATWG readyState values. */
export const SOCKET_OPEN = 1;

/**
 * How the access token travels (PROTOCOL.md section 2): the `Authorization` header (Node),
 * `Sec-WebSocket-Protocol` (browsers), or the `access_token` query of old clients, which
 * puts it in URLs that proxies and the platform log: no SDK default uses it.
 */
export type AuthVia = "header" | "protocol" | "query";

/** Opens a socket; `protocols` is what to offer in `Sec-WebSocket-Protocol`, when anything. */
export type SocketFactory = (
  url: string,
  headers: Readonly<Record<string, string>>,
  protocols?: readonly string[],
) => SocketLike;
