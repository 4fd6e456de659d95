/**
 * The load generator of the ingress benches: WebSocket streams that send pre-masked 100 ms
 * frames of 16 kHz pcm16 straight to their TCP sockets, and the real-time run that measures
 * each chunk's ack latency beyond the chunk's last byte. Used against one ingress process
 * (bench/ingress.bench.ts) and against the whole local stack (bench/local-stack.bench.ts).
 */
import crypto from "node:crypto";
import type { Socket } from "node:net";
import WebSocket from "ws";
import { signAccessToken } from "../shared/auth";
import { CHUNK_SECONDS } from "./chunk-seconds";

export const SAMPLE_RATE = 16000;
export const FRAME_BYTES = 3200; // 100 ms of 16 kHz pcm16
export { CHUNK_SECONDS };
export const CHUNK_BYTES = SAMPLE_RATE * 2 * CHUNK_SECONDS;
export const FRAMES_PER_CHUNK = CHUNK_BYTES / FRAME_BYTES;
/** How long the server gets to take in the streams' history before the measured run. */
const HISTORY_SETTLE_MS = 3000;

export interface Stream {
  readonly ws: WebSocket;
  acked: number;
}

/**
 * One masked binary WebSocket frame of `payload`, built once: the load generator writes
 * these bytes straight to the TCP socket, so the servers unmask real random keys (as with
 * real clients) while the generator spends no CPU masking. ws writes nothing else on these
 * sockets but whole control frames, so frames never interleave.
 */
export function maskedFrame(payload: Buffer): Buffer {
  if (payload.length < 126 || payload.length > 0xffff) throw new RangeError("frame payloads here are 126..65535 bytes");
  const mask = crypto.randomBytes(4);
  const frame = Buffer.alloc(8 + payload.length);
  frame[0] = 0x82; // FIN, binary
  frame[1] = 0x80 | 126; // masked, 16-bit length
  frame.writeUInt16BE(payload.length, 2);
  mask.copy(frame, 4);
  for (let i = 0; i < payload.length; i += 1) frame[8 + i] = (payload[i] ?? 0) ^ (mask[i % 4] ?? 0);
  return frame;
}

export function tcpSocket(ws: WebSocket): Socket {
  // ws keeps its socket private; the bench writes pre-masked frames to it (see maskedFrame).
  return (ws as unknown as { _socket: Socket })._socket;
}

/** The upgrade's headers: the same for every stream, or per stream (one user each, as in production). */
export type StreamHeaders = Record<string, string> | ((stream: number) => Promise<Record<string, string>>);

/** Headers that make stream `i` user `${prefix}-${i}`, so no per-user limit (4429) applies to the load. */
export function userPerStream(secret: string, prefix: string): (stream: number) => Promise<Record<string, string>> {
  return async (i) => ({ authorization: `Bearer ${await signAccessToken(secret, `${prefix}-${i}`, 3600)}` });
}

export async function openStreams(
  url: string,
  headersFor: StreamHeaders,
  count: number,
  concurrency: number,
): Promise<Stream[]> {
  const streams: Stream[] = [];
  let next = 0;
  const openOne = async (index: number): Promise<Stream> => {
    const headers = typeof headersFor === "function" ? await headersFor(index) : headersFor;
    return await new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers, perMessageDeflate: false });
      const stream: Stream = { ws, acked: 0 };
      ws.on("message", (data, isBinary) => {
        if (isBinary) return;
        const message = JSON.parse(data.toString()) as { type: string; position?: number; code?: string };
        if (message.type === "ready") resolve(stream);
        else if (message.type === "ack") stream.acked = message.position ?? 0;
        else if (message.type === "error") reject(new Error(`refused: ${message.code}`));
      });
      ws.on("error", reject);
    });
  };
  const worker = async (): Promise<void> => {
    while (next < count) {
      next += 1;
      streams.push(await openOne(next - 1));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return streams;
}

/**
 * Every stream sends one 100 ms frame every 100 ms; returns latencies (ms) of acks beyond
 * each chunk's last byte. Streams that have been running for a while complete their chunks
 * at different moments: each first sends a random part of a chunk at once (its "history"),
 * so chunk completions spread evenly over the chunk duration, as they do in production.
 */
/** How the real-time run is split: first a warm-up window, then the measured one. */
export interface RealtimeWindows {
  /** Seconds of the same load before the measured window (its latencies are reported apart). */
  readonly warmupSeconds: number;
  /** Called when the measured window begins (after the warm-up). */
  readonly onMeasured?: () => void;
}

/**
 * Streams in real time for `warmupSeconds + seconds`. A chunk's latency belongs to the
 * window in which its last byte was sent: `warmup` holds the first window's (a freshly
 * started stack, JITs and connection pools still cold), `latencies` the measured one's.
 */
export async function measureRealtime(
  streams: Stream[],
  random: () => number,
  seconds: number,
  windows: RealtimeWindows = { warmupSeconds: 0 },
): Promise<{ latencies: number[]; warmup: number[]; lagMs: number }> {
  const frame = maskedFrame(crypto.randomBytes(FRAME_BYTES));
  const latencies: number[] = [];
  const warmup: number[] = [];
  const state = streams.map((stream, i) => {
    const history = Math.floor(random() * FRAMES_PER_CHUNK);
    for (let f = 0; f < history; f += 1) tcpSocket(stream.ws).write(frame);
    return {
      stream,
      nextAt: 0,
      offsetMs: (i * 100) / streams.length, // spread the sends over one frame period
      sent: history * FRAME_BYTES,
      chunkDoneAt: new Map<number, { at: number; measured: boolean }>(),
    };
  });
  // The history is a burst no running stream sends: let it leave this process, then give
  // the server time to take it in, so the first measured chunks do not queue behind it.
  while (state.some((s) => tcpSocket(s.stream.ws).writableLength > 0))
    await new Promise((resolve) => setTimeout(resolve, 50));
  await new Promise((resolve) => setTimeout(resolve, HISTORY_SETTLE_MS));
  const start = performance.now();
  for (const s of state) s.nextAt = start + s.offsetMs;
  for (const s of state) {
    s.stream.ws.on("message", (data, isBinary) => {
      if (isBinary) return;
      const message = JSON.parse(data.toString()) as { type: string; position?: number };
      if (message.type !== "ack" || message.position === undefined) return;
      const done = s.chunkDoneAt.get(message.position);
      if (done !== undefined) {
        (done.measured ? latencies : warmup).push(performance.now() - done.at);
        s.chunkDoneAt.delete(message.position);
      }
    });
  }
  const measuredFrom = start + windows.warmupSeconds * 1000;
  const end = measuredFrom + seconds * 1000;
  let measuring = false;
  let maxLag = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      if (!measuring && now >= measuredFrom) {
        measuring = true;
        windows.onMeasured?.();
      }
      for (const s of state) {
        if (s.nextAt > now || s.nextAt > end) continue;
        maxLag = Math.max(maxLag, now - s.nextAt);
        tcpSocket(s.stream.ws).write(frame);
        s.sent += FRAME_BYTES;
        if (s.sent % CHUNK_BYTES === 0) s.chunkDoneAt.set(s.sent, { at: performance.now(), measured: measuring });
        s.nextAt += 100;
      }
      if (now > end + 2000) resolve();
      else setTimeout(tick, 5);
    };
    tick();
  });
  return { latencies, warmup, lagMs: maxLag };
}
