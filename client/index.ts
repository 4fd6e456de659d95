/**
 * tether's client SDK, Node entry point: stream a conversation's audio to one
 * environment, surviving reconnects without losing, doubling or misplacing a byte.
 *
 *   const session = await connect({ url: "wss://ingress.staging.example/v1/listen", token, codec: "pcm16", sampleRate: 16000 });
 *   banner.show(session.environment);          // what the server says, not a guess
 *   session.on("ack", ({ position }) => ...);  // durable up to position
 *   await session.write(pcm);                  // held until acknowledged, re-sent after a reconnect
 *   await session.finalize();                  // resolves on `finalized`
 *
 * The URL is resolved once (pass a function to look it up) and pinned for the session:
 * every reconnect uses it with the resume token. On `wrong_environment` (4409) and the
 * other stop codes the session stops and reports; it never tries another URL.
 *
 * In Node the socket is the `ws` package and the token travels in the `Authorization`
 * header. Browsers use browser/index.ts (native WebSocket, token in `Sec-WebSocket-Protocol`).
 */
import { entryPoint } from "./connect";
import { nodeSocketFactory } from "./node-socket";

export * from "./exports";
export { nodeSocketFactory } from "./node-socket";
export { type FileStoreOptions, fileStore } from "./stores/file-store";

/** `connect`, `createSession` and `resumeStored` (documented in connect.ts) with Node's socket and header auth. */
export const { connect, createSession, resumeStored } = entryPoint({
  createSocket: nodeSocketFactory,
  authVia: "header",
});
