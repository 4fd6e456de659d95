/**
 * Audio into a session, in the browser: the microphone (an AudioWorklet captures it) or a
 * WAV file, resampled to the conversation's rate and written as pcm16 frames, or as Opus
 * packets where the browser has a WebCodecs `AudioEncoder` for Opus.
 *
 *   const codec = await pickCodec("opus", 16000);          // "opus", or "pcm16" where unsupported
 *   const session = await connect({ url, token, codec, sampleRate: 16000 });
 *   const mic = await startMicrophone(session);            // rejects with MicrophoneError("refused")
 *   ...
 *   await mic.stop();                                       // flushes the last frame and packets
 *   await session.finalize();
 */
import type { Codec, SampleRate } from "../../shared/codecs";
import { Framer, floatToPcm16, LinearResampler, rmsLevel } from "./pcm";

/** Where audio goes: a `TetherSession`, or anything with its `write`. */
export interface AudioSink {
  readonly codec: Codec;
  readonly sampleRate: SampleRate;
  write(audio: Uint8Array): Promise<void>;
}

export type MicrophoneErrorReason = "refused" | "unavailable" | "unsupported";

export class MicrophoneError extends Error {
  override name = "MicrophoneError";
  constructor(
    readonly reason: MicrophoneErrorReason,
    message: string,
  ) {
    super(message);
  }
}

/** 20 ms frames: one Opus packet each, and small pcm16 writes. */
const FRAME_MS = 20;

function opusConfig(sampleRate: SampleRate): AudioEncoderConfig {
  return {
    codec: "opus",
    sampleRate,
    numberOfChannels: 1,
    bitrate: 32_000,
    opus: { format: "opus", frameDuration: FRAME_MS * 1000 },
  } as AudioEncoderConfig;
}

/** `preferred` if this browser can produce it at `sampleRate`, else pcm16 (always possible). */
export async function pickCodec(preferred: Codec, sampleRate: SampleRate): Promise<Codec> {
  if (preferred === "pcm16") return "pcm16";
  if (typeof AudioEncoder === "undefined") return "pcm16";
  try {
    const support = await AudioEncoder.isConfigSupported(opusConfig(sampleRate));
    return support.supported ? "opus" : "pcm16";
  } catch {
    return "pcm16";
  }
}

/**
 * Float samples at `inputRate` in, the sink's format out, in order. Writes are chained so
 * that a full replay buffer (write waits) never reorders audio.
 */
export class AudioPipeline {
  private readonly resampler: LinearResampler;
  private readonly framer: Framer;
  private readonly encoder: AudioEncoder | undefined;
  private writes: Promise<void> = Promise.resolve();
  private failure: unknown;
  private timestampUs = 0;

  constructor(
    private readonly sink: AudioSink,
    inputRate: number,
    /** Called with the RMS level (0 to 1) of every block pushed: a level meter. */
    private readonly onLevel?: (rms: number) => void,
  ) {
    this.resampler = new LinearResampler(inputRate, sink.sampleRate);
    this.framer = new Framer((sink.sampleRate * FRAME_MS) / 1000);
    if (sink.codec === "opus") {
      if (typeof AudioEncoder === "undefined")
        throw new MicrophoneError("unsupported", "this browser has no Opus encoder");
      this.encoder = new AudioEncoder({
        output: (chunk) => {
          const packet = new Uint8Array(chunk.byteLength);
          chunk.copyTo(packet);
          this.enqueue(packet);
        },
        error: (error) => {
          this.failure = error;
        },
      });
      this.encoder.configure(opusConfig(sink.sampleRate));
    }
  }

  push(samples: Float32Array): void {
    this.onLevel?.(rmsLevel(samples));
    for (const frame of this.framer.push(this.resampler.process(samples))) this.emit(frame);
  }

  /** Sends what is buffered (a last, shorter pcm16 frame; the encoder's tail) and waits for every write. */
  async flush(): Promise<void> {
    const rest = this.framer.flush();
    if (rest.length > 0) this.emit(rest);
    if (this.encoder) {
      await this.encoder.flush();
      this.encoder.close();
    }
    await this.writes;
    if (this.failure !== undefined) throw this.failure;
  }

  private emit(frame: Float32Array): void {
    if (!this.encoder) {
      this.enqueue(floatToPcm16(frame));
      return;
    }
    const data = new AudioData({
      format: "f32",
      sampleRate: this.sink.sampleRate,
      numberOfFrames: frame.length,
      numberOfChannels: 1,
      timestamp: this.timestampUs,
      data: frame as Float32Array<ArrayBuffer>,
    });
    this.timestampUs += (frame.length / this.sink.sampleRate) * 1_000_000;
    this.encoder.encode(data);
    data.close();
  }

  private enqueue(bytes: Uint8Array): void {
    this.writes = this.writes.then(() => (this.failure === undefined ? this.sink.write(bytes) : undefined));
    this.writes.catch((error: unknown) => {
      this.failure ??= error;
    });
  }
}

/** The worklet: copies each 128-sample render quantum of channel 0 to the main thread in blocks. */
const WORKLET = `
class TetherCapture extends AudioWorkletProcessor {
  constructor() {
    super(); this.block = new Float32Array(2048); this.filled = 0; this.stopped = false;
    this.port.onmessage = () => { this.stopped = true; this.port.postMessage({ last: this.block.slice(0, this.filled) }); };
  }
  drain() { this.port.postMessage(this.block.slice(0, this.filled)); this.filled = 0; }
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel && !this.stopped) {
      let offset = 0;
      while (offset < channel.length) {
        const n = Math.min(channel.length - offset, this.block.length - this.filled);
        this.block.set(channel.subarray(offset, offset + n), this.filled);
        this.filled += n; offset += n;
        if (this.filled === this.block.length) this.drain();
      }
    }
    return !this.stopped;
  }
}
registerProcessor("tether-capture", TetherCapture);
`;

export interface MicrophoneCapture {
  /** The device's rate (the AudioContext's), before resampling. */
  readonly inputRate: number;
  /** Stops capturing, sends the last frame, waits until every frame is in the session. */
  stop(): Promise<void>;
}

export interface MicrophoneOptions {
  /** Capture this stream instead of asking for the microphone. */
  readonly stream?: MediaStream;
  /** The RMS level (0 to 1) of each captured block, for a level meter. */
  readonly onLevel?: (rms: number) => void;
}

async function openMicrophone(): Promise<MediaStream> {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new MicrophoneError("unsupported", "this page cannot use a microphone (it needs https or localhost)");
  }
  try {
    return await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
  } catch (error) {
    const name = (error as { name?: string }).name;
    if (name === "NotAllowedError" || name === "SecurityError") {
      throw new MicrophoneError("refused", "the browser was not allowed to use the microphone");
    }
    throw new MicrophoneError("unavailable", `no microphone could be opened (${name ?? String(error)})`);
  }
}

/** Captures the microphone into `sink` until `stop()`. */
export async function startMicrophone(sink: AudioSink, options: MicrophoneOptions = {}): Promise<MicrophoneCapture> {
  const stream = options.stream ?? (await openMicrophone());
  const context = new AudioContext();
  const moduleUrl = URL.createObjectURL(new Blob([WORKLET], { type: "text/javascript" }));
  try {
    await context.audioWorklet.addModule(moduleUrl);
  } finally {
    URL.revokeObjectURL(moduleUrl);
  }
  const pipeline = new AudioPipeline(sink, context.sampleRate, options.onLevel);
  const source = context.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(context, "tether-capture", { numberOfInputs: 1, numberOfOutputs: 0 });
  let stopped = false;
  let drained: (() => void) | undefined;
  node.port.onmessage = (event: MessageEvent<Float32Array | { last: Float32Array }>) => {
    if (event.data instanceof Float32Array) {
      pipeline.push(event.data);
      return;
    }
    // The worklet's answer to "stop": its partial block; nothing follows it.
    pipeline.push(event.data.last);
    drained?.();
  };
  source.connect(node);
  return {
    inputRate: context.sampleRate,
    async stop() {
      if (stopped) return;
      stopped = true;
      // The worklet answers with its partial block and stops posting.
      await new Promise<void>((resolve) => {
        drained = resolve;
        node.port.postMessage("drain");
      });
      source.disconnect();
      node.disconnect();
      if (!options.stream) for (const track of stream.getTracks()) track.stop();
      await context.close();
      await pipeline.flush();
    },
  };
}
