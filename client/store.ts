/**
 * Durable storage behind a session's replay buffer, so that audio and text the app handed
 * to the SDK survive the app itself (a killed process, a reloaded tab). A store keeps, per
 * conversation: the pinned URL and format, the conversation id and latest resume token,
 * the unacknowledged audio and the held text messages. The session writes audio to it
 * before the audio counts as sent, and trims it as acks arrive.
 *
 * Without a store the replay buffer lives in memory only (the default). Stores: the file
 * store for Node (stores/file-store.ts) and the IndexedDB store for browsers
 * (browser/indexeddb-store.ts). This file imports nothing, so it runs anywhere.
 */
import type { Codec, SampleRate } from "../shared/codecs";

/** What a conversation's record says about where and how it streams. */
export interface StoredMeta {
  readonly url: string;
  readonly codec: Codec;
  readonly sampleRate: SampleRate;
  /** Known once the server answered `ready` (or when the app chose it). */
  readonly conversationId: string | undefined;
  readonly resumeToken: string | undefined;
}

/** One unacknowledged audio write, at its stream position. */
export interface StoredAudio {
  readonly start: number;
  readonly data: Uint8Array;
}

/** A stored, unfinished conversation, as found after a restart. */
export interface StoredConversation {
  /** The store's own name for the record. */
  readonly key: string;
  readonly meta: StoredMeta;
  /** Everything before this position was acknowledged by the server. */
  readonly acked: number;
  /** The unacknowledged audio, in order, contiguous from `acked` (the first entry may start before it). */
  readonly audio: readonly StoredAudio[];
  /** The held text messages (JSON), in the order they were queued. */
  readonly messages: readonly string[];
}

/**
 * One conversation's record. The session calls these in stream order; a store applies
 * them in that order. `appendAudio` resolves once the audio is stored (the session sends
 * it only then); the others may complete later but never out of order.
 */
export interface ConversationLog {
  readonly key: string;
  appendAudio(start: number, data: Uint8Array): void | Promise<void>;
  /** Everything before `position` is acknowledged: the store may drop it. */
  acknowledge(position: number): void;
  /** The conversation id and resume token of the latest `ready`. */
  setConversation(conversationId: string, resumeToken: string): void;
  /** The held text messages, replacing the previous list. */
  setMessages(messages: readonly string[]): void;
  /** The conversation is finalized with everything stored: the record goes. */
  remove(): Promise<void>;
  /** Pending writes reach the medium (fsync / committed transaction). */
  flush(): Promise<void>;
}

export interface ConversationStorage {
  /** Bytes of unacknowledged audio a record may hold; the session's `write` waits at this cap. */
  readonly capacityBytes: number | undefined;
  /** Creates the record of a new session. */
  create(meta: StoredMeta): Promise<ConversationLog>;
  /** Every unfinished conversation in the store. */
  list(): Promise<StoredConversation[]>;
  /** Reopens a listed record to continue writing to it. */
  reopen(conversation: StoredConversation): Promise<ConversationLog>;
}

/** Raised by `write` when the store is full and the session was told not to wait. */
export class StoreFullError extends Error {
  override name = "StoreFullError";
  constructor(readonly capacityBytes: number) {
    super(
      `the SDK's store is full: it holds its cap of ${capacityBytes} bytes of unacknowledged audio (replayBufferBytes / the store's maxBytes); wait for acks or raise the cap`,
    );
  }
}
