/**
 * What both entry points of the SDK export (index.ts for Node, browser/index.ts for
 * browsers): the session, its events and errors, and the store interfaces. Each entry
 * point re-exports this and adds its own socket, stores and `connect` (connect.ts).
 */
export type { BackoffPolicy } from "./backoff";
export { DEFAULT_BACKOFF } from "./backoff";
export type { ConnectOptions, ResumedConversation, ResumeOptions } from "./connect";
export { type NotStored, TetherError, type TetherErrorCode } from "./errors";
export { TetherSession } from "./session";
export type {
  FinalizeResult,
  GoawayEvent,
  ReadyEvent,
  ReconnectingEvent,
  RetiredEvent,
  SessionEvents,
  SessionStats,
} from "./session-events";
export type { SocketFactory, SocketLike } from "./socket";
export type { ConversationLog, ConversationStorage, StoredConversation, StoredMeta } from "./store";
export { StoreFullError } from "./store";
