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
 * header. Browsers use browser/index.ts (native WebSocket, `access_token` query).
 */
import {
  type ConnectOptions,
  connectWith,
  createSession as createWith,
  type PlatformDefaults,
  type ResumedConversation,
  type ResumeOptions,
  resumeStoredWith,
} from "./connect";
import { nodeSocketFactory } from "./node-socket";
import type { TetherSession } from "./session";
import type { ConversationStorage } from "./store";

export type { BackoffPolicy } from "./backoff";
export { DEFAULT_BACKOFF } from "./backoff";
export type { ConnectOptions, ResumedConversation, ResumeOptions } from "./connect";
export { type NotStored, TetherError, type TetherErrorCode } from "./errors";
export { nodeSocketFactory } from "./node-socket";
export type { FinalizeResult, ReadyEvent, ReconnectingEvent, SessionEvents, SessionStats } from "./session";
export { TetherSession } from "./session";
export type { SocketFactory, SocketLike } from "./socket";
export type { ConversationLog, ConversationStorage, StoredConversation, StoredMeta } from "./store";
export { StoreFullError } from "./store";
export { type FileStoreOptions, fileStore } from "./stores/file-store";

const NODE: PlatformDefaults = { createSocket: nodeSocketFactory, authVia: "header" };

/** Opens a session; resolves after the server's first `ready`, rejects with a `TetherError`. */
export function connect(options: ConnectOptions): Promise<TetherSession> {
  return connectWith(options, NODE);
}

/** The session, not yet started: subscribe to its events, then `await session.start()`. */
export function createSession(options: ConnectOptions): Promise<TetherSession> {
  return createWith(options, NODE);
}

/**
 * Reopens every unfinished conversation in `storage` on its pinned URL (after the app
 * restarted): each resumes, finalized meanwhile, or failed with what was not stored.
 */
export function resumeStored(storage: ConversationStorage, options: ResumeOptions): Promise<ResumedConversation[]> {
  return resumeStoredWith(storage, options, NODE);
}
