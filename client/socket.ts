/**
 * The WebSocket the SDK drives: the WHATWG interface that browsers and React Native
 * provide, which the `ws` package implements too. In Node the SDK uses `ws` and sends the
 * token in the `Authorization` header; elsewhere pass `createSocket` (and `authVia: "query"`,
 * as browsers cannot set headers on a WebSocket).
 */
import WebSocket from "ws";

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

export type SocketFactory = (url: string, headers: Readonly<Record<string, string>>) => SocketLike;

/** Node: the `ws` package, without compression (audio does not compress, and it costs 10x). */
export const nodeSocketFactory: SocketFactory = (url, headers) =>
  new WebSocket(url, { headers: { ...headers }, perMessageDeflate: false }) as unknown as SocketLike;
