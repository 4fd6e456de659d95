/**
 * `connect()`, shared by the Node entry point (index.ts) and the browser one
 * (browser/index.ts): resolves the ingress URL once, pins it, and opens the session. The
 * entry points differ only in their default socket and how the token travels.
 */
import type { Codec, SampleRate } from "../shared/audio-format";
import { type BackoffPolicy, DEFAULT_BACKOFF } from "./backoff";
import { TetherSession } from "./session";
import type { SocketFactory } from "./socket";

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
  /** `query` for platforms that cannot set headers on a WebSocket (browsers). Default: the entry point's. */
  readonly authVia?: "header" | "query";
  readonly backoff?: Partial<BackoffPolicy>;
  /** Consecutive failed connection attempts before the session gives up (`unreachable`). Default 20. */
  readonly maxReconnectAttempts?: number;
  /** Bytes of unacknowledged audio held for re-sending; `write` waits when full. Default 8 MiB. */
  readonly replayBufferBytes?: number;
  /** Text messages held until acknowledged. Default 10,000. */
  readonly maxPendingMessages?: number;
  /** The WebSocket implementation; default: the entry point's (`ws` in Node, the native one in browsers). */
  readonly createSocket?: SocketFactory;
  /** For tests: the jitter's randomness. */
  readonly random?: () => number;
}

/** What an entry point supplies when the caller does not. */
export interface PlatformDefaults {
  readonly createSocket: SocketFactory;
  readonly authVia: "header" | "query";
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
  return new TetherSession({
    url,
    token: () => resolve(options.token),
    authVia: options.authVia ?? platform.authVia,
    codec: options.codec ?? "pcm16",
    sampleRate: options.sampleRate ?? 16000,
    conversationId: options.conversationId,
    resumeToken: options.resumeToken,
    backoff: { ...DEFAULT_BACKOFF, ...options.backoff },
    maxReconnectAttempts: options.maxReconnectAttempts ?? 20,
    replayBufferBytes: options.replayBufferBytes ?? 8 * 1024 * 1024,
    maxPendingMessages: options.maxPendingMessages ?? 10_000,
    createSocket: options.createSocket ?? platform.createSocket,
    random: options.random ?? Math.random,
  });
}

/** Opens a session; resolves after the server's first `ready`, rejects with a `TetherError`. */
export async function connectWith(options: ConnectOptions, platform: PlatformDefaults): Promise<TetherSession> {
  const session = await createSession(options, platform);
  await session.start();
  return session;
}
