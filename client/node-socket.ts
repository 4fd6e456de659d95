/**
 * The SDK's socket in Node: the `ws` package, which can send the access token in the
 * `Authorization` header. Only the Node entry point (index.ts) imports this file, so
 * browser bundles never contain `ws`.
 */
import WebSocket from "ws";
import type { SocketFactory, SocketLike } from "./socket";

/** Node: the `ws` package, without compression (audio does not compress, and it costs 10x). */
export const nodeSocketFactory: SocketFactory = (url, headers, protocols) =>
  new WebSocket(url, protocols === undefined ? [] : [...protocols], {
    headers: { ...headers },
    perMessageDeflate: false,
  }) as unknown as SocketLike;
