/**
 * The chaos run's audio, generated off the event loop: `speechLikePcm` takes about a second
 * of CPU per 15 s conversation on a loaded machine, and on the main thread that blocked the
 * in-process workers (their pushes) for as long. One worker thread makes each conversation's
 * audio, the same bytes for the same seed.
 */
import { isMainThread, parentPort, Worker } from "node:worker_threads";
import { speechLikePcm } from "../client/speech-like";

interface Request {
  readonly id: number;
  readonly seconds: number;
  readonly sampleRate: number;
  readonly seed: number;
}

if (!isMainThread && parentPort !== null) {
  const port = parentPort;
  port.on("message", (request: Request) => {
    const pcm = speechLikePcm(request.seconds, request.sampleRate, request.seed);
    const bytes = new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength).slice();
    port.postMessage({ id: request.id, bytes }, [bytes.buffer]);
  });
}

export interface AudioMaker {
  speechLikePcm(seconds: number, sampleRate: number, seed: number): Promise<Buffer>;
  close(): Promise<void>;
}

export function startAudioMaker(): AudioMaker {
  // A worker thread does not inherit tsx's hooks: it registers them, then loads this file.
  const worker = new Worker(
    `require(${JSON.stringify(require.resolve("tsx/cjs/api"))}).register(); require(${JSON.stringify(__filename)});`,
    {
      eval: true,
    },
  );
  let next = 0;
  const waiting = new Map<number, { resolve: (pcm: Buffer) => void; reject: (error: Error) => void }>();
  worker.on("message", ({ id, bytes }: { id: number; bytes: Uint8Array }) => {
    waiting.get(id)?.resolve(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    waiting.delete(id);
  });
  worker.on("error", (error) => {
    for (const pending of waiting.values()) pending.reject(error);
    waiting.clear();
  });
  return {
    speechLikePcm: (seconds, sampleRate, seed) =>
      new Promise((resolve, reject) => {
        next += 1;
        waiting.set(next, { resolve, reject });
        worker.postMessage({ id: next, seconds, sampleRate, seed } satisfies Request);
      }),
    close: async () => {
      await worker.terminate();
    },
  };
}
