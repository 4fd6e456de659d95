/**
 * `connect()`, shared by the Node entry point (index.ts) and the browser one
 * (browser/index.ts): resolves the ingress URL once, pins it, and opens the session. The
 * entry points differ only in their default socket and how the token travels, so each
 * takes its `connect`, `createSession` and `resumeStored` from `entryPoint` with its own
 * defaults. With a `storage`, the session's replay buffer is backed by a record in it
 * (store.ts), and `resumeStoredWith` reopens every unfinished record after a restart.
 */
import type { Codec, SampleRate } from "../shared/codecs";
import { type BackoffPolicy, DEFAULT_BACKOFF } from "./backoff";
import { TetherError } from "./errors";
import { TetherSession } from "./session";
import type { SessionConfig } from "./session-events";
import type { AuthVia, SocketFactory } from "./socket";
import type { ConversationLog, ConversationStorage, StoredConversation } from "./store";

type Provider<T> = T | (() => T | Promise<T>);

export interface ConnectOptions {
  /** The ingress URL (`wss://.../v1/listen`), or a function that looks it up: called once, then pinned. */
  readonly url: Provider<string>;
  /** The access token, or a function called before every (re)connect (tokens expire; the URL does not change). */
  readonly token: Provider<string>;
  readonly codec?: Codec;
  readonly sampleRate?: SampleRate;
  /** Start a conversation with this id (or continue it, if it is yours and in progress). */
  readonly conversationId?: string;
  /** Resume a conversation from an earlier run of the app. */
  readonly resumeToken?: string;
  /**
   * How the token travels: `header` (Node), `protocol` (browsers: `Sec-WebSocket-Protocol`),
   * or `query` (only for an ingress older than revision 3: the token lands in URL logs).
   * Default: the entry point's.
   */
  readonly authVia?: AuthVia;
  readonly backoff?: Partial<BackoffPolicy>;
  /** Consecutive failed connection attempts before the session gives up (`unreachable`). Default 20. */
  readonly maxReconnectAttempts?: number;
  /**
   * How long a socket may take to receive `ready`; past it, the attempt is given up and
   * counts as a failed one (the session reconnects). Default 20,000 ms.
   */
  readonly readyTimeoutMs?: number;
  /** Bytes of unacknowledged audio held for re-sending; `write` waits when full. Default 8 MiB. */
  readonly replayBufferBytes?: number;
  /** Text messages held until acknowledged. Default 10,000. */
  readonly maxPendingMessages?: number;
  /** The WebSocket implementation; default: the entry point's (`ws` in Node, the native one in browsers). */
  readonly createSocket?: SocketFactory;
  /** For tests: the jitter's randomness. */
  readonly random?: () => number;
  /**
   * Durable backing for the replay buffer and held text messages (file store in Node,
   * IndexedDB in browsers), so `resumeStored` can continue after the app restarted.
   * Default: memory only.
   */
  readonly storage?: ConversationStorage;
  /** At the cap (replayBufferBytes, or the store's own), `write` waits for acks (default) or throws `StoreFullError`. */
  readonly whenFull?: "wait" | "fail";
}

/** What `resumeStored` needs: how to reach the server, not where (each record has its pinned URL). */
export type ResumeOptions = Omit<
  ConnectOptions,
  "url" | "codec" | "sampleRate" | "conversationId" | "resumeToken" | "storage"
>;

/** What became of one stored conversation. */
export type ResumedConversation =
  /** Resumed at the server's position and re-sent what it lacked: write more, or `finalize()`. */
  | { readonly kind: "resumed"; readonly key: string; readonly session: TetherSession; readonly position: number }
  /** The server had finalized it meanwhile and holds everything stored: the record is gone. */
  | { readonly kind: "finalized"; readonly key: string; readonly conversationId: string; readonly position: number }
  /**
   * It could not be resumed. With `conversation_finalized`, `error.details.durablePosition`
   * is exactly what the server stored and `error.details.notStored` what it did not (the
   * bytes and messages, for a new conversation). The record stays until `discard()`.
   */
  | {
      readonly kind: "failed";
      readonly key: string;
      readonly conversationId: string | undefined;
      readonly error: TetherError;
      readonly discard: () => Promise<void>;
    };

/** What an entry point supplies when the caller does not. */
export interface PlatformDefaults {
  readonly createSocket: SocketFactory;
  readonly authVia: AuthVia;
}

async function resolve<T>(value: Provider<T>): Promise<T> {
  return typeof value === "function" ? await (value as () => T | Promise<T>)() : value;
}

/**
 * Creates the session without opening it, so the app can subscribe to `reconnecting` and
 * `error` before the first socket; `start()` then resolves on the first `ready`.
 */
export async function createSession(options: ConnectOptions, platform: PlatformDefaults): Promise<TetherSession> {
  const url = await resolve(options.url); // resolved once: pinned for the session
  const parsed = new URL(url);
  if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") throw new TypeError(`not a WebSocket URL: ${url}`);
  const codec = options.codec ?? "pcm16";
  const sampleRate = options.sampleRate ?? 16000;
  const log = await options.storage?.create({
    url,
    codec,
    sampleRate,
    conversationId: options.conversationId,
    resumeToken: options.resumeToken,
  });
  return new TetherSession({
    ...commonConfig(options, platform, options.storage, log),
    url,
    codec,
    sampleRate,
    conversationId: options.conversationId,
    resumeToken: options.resumeToken,
  });
}

function commonConfig(
  options: ResumeOptions,
  platform: PlatformDefaults,
  storage: ConversationStorage | undefined,
  log: ConversationLog | undefined,
): Omit<SessionConfig, "url" | "codec" | "sampleRate" | "conversationId" | "resumeToken"> {
  return {
    token: () => resolve(options.token),
    authVia: options.authVia ?? platform.authVia,
    backoff: { ...DEFAULT_BACKOFF, ...options.backoff },
    maxReconnectAttempts: options.maxReconnectAttempts ?? 20,
    readyTimeoutMs: options.readyTimeoutMs ?? 20_000,
    replayBufferBytes: Math.min(
      options.replayBufferBytes ?? 8 * 1024 * 1024,
      storage?.capacityBytes ?? Number.POSITIVE_INFINITY,
    ),
    maxPendingMessages: options.maxPendingMessages ?? 10_000,
    createSocket: options.createSocket ?? platform.createSocket,
    random: options.random ?? Math.random,
    ...(log ? { log } : {}),
    ...(options.whenFull ? { whenFull: options.whenFull } : {}),
  };
}

async function resumeOne(
  stored: StoredConversation,
  storage: ConversationStorage,
  options: ResumeOptions,
  platform: PlatformDefaults,
): Promise<ResumedConversation> {
  const log = await storage.reopen(stored);
  const session = new TetherSession({
    ...commonConfig(options, platform, storage, log),
    url: stored.meta.url, // the pinned URL, never a fresh lookup
    codec: stored.meta.codec,
    sampleRate: stored.meta.sampleRate,
    conversationId: stored.meta.conversationId,
    resumeToken: stored.meta.resumeToken,
    restored: stored,
  });
  let position = stored.acked;
  let finalized: { conversationId: string; position: number } | undefined;
  session.on("ready", (ready) => {
    position = ready.position;
  });
  session.on("finalized", (result) => {
    finalized = result;
  });
  try {
    await session.start();
  } catch (error) {
    const failure =
      error instanceof TetherError ? error : new TetherError("protocol_violation", (error as Error).message);
    return {
      kind: "failed",
      key: stored.key,
      conversationId: stored.meta.conversationId,
      error: failure,
      discard: () => log.remove(),
    };
  }
  if (finalized) return { kind: "finalized", key: stored.key, ...finalized };
  return { kind: "resumed", key: stored.key, session, position };
}

/**
 * Reopens every unfinished conversation in `storage`, each on its pinned URL: it resumes
 * at the server's `ready.position` and re-sends what the server lacks. A conversation the
 * server finalized meanwhile is reconciled through the 4410 details (PROTOCOL section 2).
 */
export async function resumeStoredWith(
  storage: ConversationStorage,
  options: ResumeOptions,
  platform: PlatformDefaults,
): Promise<ResumedConversation[]> {
  const stored = await storage.list();
  return Promise.all(stored.map((conversation) => resumeOne(conversation, storage, options, platform)));
}

/** Opens a session; resolves after the server's first `ready`, rejects with a `TetherError`. */
export async function connectWith(options: ConnectOptions, platform: PlatformDefaults): Promise<TetherSession> {
  const session = await createSession(options, platform);
  await session.start();
  return session;
}

/** The ways into the SDK, each entry point's: the same functions with its platform's defaults. */
export interface EntryPoint {
  /** Opens a session; resolves after the server's first `ready`, rejects with a `TetherError`. */
  readonly connect: (options: ConnectOptions) => Promise<TetherSession>;
  /** The session, not yet started: subscribe to its events, then `await session.start()`. */
  readonly createSession: (options: ConnectOptions) => Promise<TetherSession>;
  /**
   * Reopens every unfinished conversation in `storage` on its pinned URL (after the app
   * restarted): each resumes, finalized meanwhile, or failed with what was not stored.
   */
  readonly resumeStored: (storage: ConversationStorage, options: ResumeOptions) => Promise<ResumedConversation[]>;
}

export function entryPoint(platform: PlatformDefaults): EntryPoint {
  return {
    connect: (options) => connectWith(options, platform),
    createSession: (options) => createSession(options, platform),
    resumeStored: (storage, options) => resumeStoredWith(storage, options, platform),
  };
}
