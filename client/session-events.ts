/**
 * What a session tells the app (its events and stats) and what it is built from (its
 * config); `connect` (connect.ts) fills the config in.
 */
import type { Codec, SampleRate } from "../shared/codecs";
import type { GoawayMessage } from "../shared/protocol";
import type { BackoffPolicy } from "./backoff";
import type { TetherError } from "./errors";
import type { AuthVia, SocketFactory } from "./socket";
import type { ConversationLog, StoredConversation } from "./store";

export interface ReadyEvent {
  readonly environment: string;
  readonly conversationId: string;
  readonly sessionId: string;
  readonly position: number;
  /** False for the first socket of this session object. */
  readonly resumed: boolean;
  /** This socket replaced one the server sent `goaway` (make before break), not a lost one. */
  readonly handover: boolean;
}

export interface GoawayEvent {
  readonly reason: GoawayMessage["reason"];
  readonly closeInMs: number;
  /** False when the session stays on the socket (its `finalize` is under way there). */
  readonly handingOver: boolean;
}

/** A socket the session moved away from after its `goaway` has closed (4001 or 1012 expected). */
export interface RetiredEvent {
  readonly closeCode: number;
  readonly reason: string;
}

export interface ReconnectingEvent {
  readonly attempt: number;
  readonly delayMs: number;
  readonly closeCode: number;
  readonly reason: string;
}

export interface SessionStats {
  /** Units written by the app. */
  readonly written: number;
  /** Units sent on the current socket (the position after the last one sent). */
  readonly sent: number;
  /** Units the server acknowledged as durable. */
  readonly acked: number;
  readonly reconnects: number;
  /** Moves to a new socket after a `goaway` (not counted in `reconnects`). */
  readonly handovers: number;
  readonly bufferedBytes: number;
}

export interface SessionEvents extends Record<string, unknown> {
  ready: ReadyEvent;
  ack: { readonly position: number };
  reconnecting: ReconnectingEvent;
  goaway: GoawayEvent;
  retired: RetiredEvent;
  finalized: { readonly conversationId: string; readonly position: number };
  /** Terminal: the session stopped. */
  error: TetherError;
}

export interface SessionConfig {
  readonly url: string;
  readonly token: () => Promise<string>;
  readonly authVia: AuthVia;
  readonly codec: Codec;
  readonly sampleRate: SampleRate;
  readonly conversationId: string | undefined;
  readonly resumeToken: string | undefined;
  readonly backoff: BackoffPolicy;
  readonly maxReconnectAttempts: number;
  /** A socket without `ready` after this long is given up (a failed attempt). */
  readonly readyTimeoutMs: number;
  readonly replayBufferBytes: number;
  readonly maxPendingMessages: number;
  readonly createSocket: SocketFactory;
  readonly random: () => number;
  /** The store record backing the replay buffer and held text messages; none = memory only. */
  readonly log?: ConversationLog;
  /** What the store held after a restart: the session continues it. */
  readonly restored?: StoredConversation;
  /** At the replay buffer's cap, `write` waits for acks (default) or throws `StoreFullError`. */
  readonly whenFull?: "wait" | "fail";
}

export interface FinalizeResult {
  readonly conversationId: string;
  readonly position: number;
}
