/**
 * tether's client SDK, browser entry point: the same resumable session as in Node, on
 * the browser's own WebSocket, with the access token in the `access_token` query parameter
 * (browsers cannot set WebSocket headers), and helpers that put the microphone or a WAV
 * file into a session. Nothing here imports Node modules or the full schema library.
 *
 *   import { connect, pickCodec, startMicrophone } from "@tether/client";
 *   const codec = await pickCodec("opus", 16000);
 *   const session = await connect({ url, token, codec, sampleRate: 16000 });
 *   banner.textContent = session.environment;   // what the server said in `ready`
 *   const mic = await startMicrophone(session);
 *   ...
 *   await mic.stop();
 *   await session.finalize();
 */
import {
  type ConnectOptions,
  connectWith,
  createSession as createWith,
  type PlatformDefaults,
  type ResumedConversation,
  type ResumeOptions,
  resumeStoredWith,
} from "../connect";
import type { TetherSession } from "../session";
import type { ConversationStorage } from "../store";
import { browserSocketFactory } from "./socket";

export type { BackoffPolicy } from "../backoff";
export { DEFAULT_BACKOFF } from "../backoff";
export type { ConnectOptions, ResumedConversation, ResumeOptions } from "../connect";
export { type NotStored, TetherError, type TetherErrorCode } from "../errors";
export type { FinalizeResult, ReadyEvent, ReconnectingEvent, SessionEvents, SessionStats } from "../session";
export { TetherSession } from "../session";
export type { SocketFactory, SocketLike } from "../socket";
export type { ConversationLog, ConversationStorage, StoredConversation, StoredMeta } from "../store";
export { StoreFullError } from "../store";
export type { Codec, SampleRate } from "./audio-format";
export { SAMPLE_RATES } from "./audio-format";
export { type IndexedDbStoreOptions, indexedDbStore } from "./indexeddb-store";
export {
  AudioPipeline,
  type AudioSink,
  type MicrophoneCapture,
  MicrophoneError,
  type MicrophoneErrorReason,
  type MicrophoneOptions,
  pickCodec,
  startMicrophone,
} from "./microphone";
export { floatToPcm16, LinearResampler, readWav, type WavAudio, WavReadError } from "./pcm";
export { browserSocketFactory } from "./socket";
export { streamWavFile, type WavStreamOptions } from "./wav-source";

const BROWSER: PlatformDefaults = { createSocket: browserSocketFactory, authVia: "query" };

/** Opens a session; resolves after the server's first `ready`, rejects with a `TetherError`. */
export function connect(options: ConnectOptions): Promise<TetherSession> {
  return connectWith(options, BROWSER);
}

/** The session, not yet started: subscribe to its events, then `await session.start()`. */
export function createSession(options: ConnectOptions): Promise<TetherSession> {
  return createWith(options, BROWSER);
}

/**
 * Reopens every unfinished conversation in `storage` on its pinned URL (after the app
 * restarted): each resumes, finalized meanwhile, or failed with what was not stored.
 */
export function resumeStored(storage: ConversationStorage, options: ResumeOptions): Promise<ResumedConversation[]> {
  return resumeStoredWith(storage, options, BROWSER);
}
