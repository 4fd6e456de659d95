/**
 * tether's client SDK: stream a conversation's audio to one environment, surviving
 * reconnects without losing, doubling or misplacing a byte.
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
 */
import type { Codec, SampleRate } from "../shared/audio-format";
import { type BackoffPolicy, DEFAULT_BACKOFF } from "./backoff";
import { TetherSession } from "./session";
import { nodeSocketFactory, type SocketFactory } from "./socket";

export type { BackoffPolicy } from "./backoff";
export { DEFAULT_BACKOFF } from "./backoff";
export { TetherError, type TetherErrorCode } from "./errors";
export type { FinalizeResult, ReadyEvent, ReconnectingEvent, SessionEvents, SessionStats } from "./session";
export { TetherSession } from "./session";
export type { SocketFactory, SocketLike } from "./socket";

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
  /** `query` for platforms that cannot set headers on a WebSocket (browsers). Default `header`. */
  readonly authVia?: "header" | "query";
  readonly backoff?: Partial<BackoffPolicy>;
  /** Consecutive failed connection attempts before the session gives up (`unreachable`). Default 20. */
  readonly maxReconnectAttempts?: number;
  /** Bytes of unacknowledged audio held for re-sending; `write` waits when full. Default 8 MiB. */
  readonly replayBufferBytes?: number;
  /** Text messages held until acknowledged. Default 10,000. */
  readonly maxPendingMessages?: number;
  /** The WebSocket implementation; default: the `ws` package (Node). */
  readonly createSocket?: SocketFactory;
  /** For tests: the jitter's randomness. */
  readonly random?: () => number;
}

async function resolve<T>(value: Provider<T>): Promise<T> {
  return typeof value === "function" ? await (value as () => T | Promise<T>)() : value;
}

/** Opens a session; resolves after the server's first `ready`, rejects with a `TetherError`. */
export async function connect(options: ConnectOptions): Promise<TetherSession> {
  const url = await resolve(options.url); // resolved once: pinned for the session
  const parsed = new URL(url);
  if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") throw new TypeError(`not a WebSocket URL: ${url}`);
  const session = new TetherSession({
    url,
    token: () => resolve(options.token),
    authVia: options.authVia ?? "header",
    codec: options.codec ?? "pcm16",
    sampleRate: options.sampleRate ?? 16000,
    conversationId: options.conversationId,
    resumeToken: options.resumeToken,
    backoff: { ...DEFAULT_BACKOFF, ...options.backoff },
    maxReconnectAttempts: options.maxReconnectAttempts ?? 20,
    replayBufferBytes: options.replayBufferBytes ?? 8 * 1024 * 1024,
    maxPendingMessages: options.maxPendingMessages ?? 10_000,
    createSocket: options.createSocket ?? nodeSocketFactory,
    random: options.random ?? Math.random,
  });
  await session.start();
  return session;
}
