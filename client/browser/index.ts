/**
 * tether's client SDK, browser entry point: the same resumable session as in Node, on
 * the browser's own WebSocket, with the access token offered in `Sec-WebSocket-Protocol`
 * (browsers cannot set other WebSocket headers; a URL would put it in logs), and helpers that put the microphone or a WAV
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
import { entryPoint } from "../connect";
import { browserSocketFactory } from "./socket";

export type { Codec, SampleRate } from "../../shared/codecs";
export { SAMPLE_RATES } from "../../shared/codecs";
export * from "../exports";
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
export { floatToPcm16, LinearResampler, pcm16ToFloat, readWav, rmsLevel, type WavAudio, WavReadError } from "./pcm";
export { browserSocketFactory } from "./socket";
export { streamWavFile, type WavStreamOptions } from "./wav-source";

/** `connect`, `createSession` and `resumeStored` (documented in connect.ts) with the native WebSocket and query auth. */
export const { connect, createSession, resumeStored } = entryPoint({
  createSocket: browserSocketFactory,
  authVia: "protocol",
});
