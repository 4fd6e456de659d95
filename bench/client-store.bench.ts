/**
 * What the SDK's file store costs: frames per second written through a session with the
 * memory store (the default) and with the file store (fsync every 100 ms, and after every
 * record), side by side in one run. The server is a minimal in-process WebSocket peer that
 * answers `ready` and acknowledges every chunk as it arrives, so the figure is the SDK's
 * own cost (socket + store), not the pipeline's.
 */
import fs from "node:fs";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { WebSocketServer } from "ws";
import { type ConversationStorage, connect, fileStore } from "../client/index";
import type { BenchContext } from "./run";

const FRAME_BYTES = 3200; // 100 ms of 16 kHz pcm16
const CHUNK_BYTES = 32_000;

/** A peer that says `ready` and acks each whole chunk it received. */
async function ackingPeer(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  let conversation = 0;
  server.on("connection", (socket) => {
    conversation += 1;
    let received = 0;
    socket.send(
      JSON.stringify({
        type: "ready",
        protocol: 1,
        environment: "bench",
        conversation_id: `bench-conversation-${conversation}`,
        session_id: `bench-session-${conversation}`,
        resume_token: "bench.resume.token",
        position_unit: "byte",
        position: 0,
        chunk_size: CHUNK_BYTES,
      }),
    );
    socket.on("message", (data, isBinary) => {
      if (!isBinary) {
        const message = JSON.parse(String(data)) as { type: string };
        if (message.type === "finalize") {
          socket.send(JSON.stringify({ type: "ack", position: received }));
          socket.send(
            JSON.stringify({
              type: "finalized",
              conversation_id: `bench-conversation-${conversation}`,
              position: received,
            }),
          );
          socket.close(1000);
        }
        return;
      }
      const before = Math.floor(received / CHUNK_BYTES);
      received += (data as Buffer).length;
      if (Math.floor(received / CHUNK_BYTES) > before)
        socket.send(JSON.stringify({ type: "ack", position: Math.floor(received / CHUNK_BYTES) * CHUNK_BYTES }));
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/v1/listen`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function framesPerSecond(url: string, frames: number, storage: ConversationStorage | undefined): Promise<number> {
  const session = await connect({
    url,
    token: "bench",
    codec: "pcm16",
    sampleRate: 16000,
    ...(storage ? { storage } : {}),
  });
  const frame = new Uint8Array(FRAME_BYTES).map((_, i) => i % 251);
  const started = process.hrtime.bigint();
  for (let i = 0; i < frames; i += 1) await session.write(frame);
  await session.finalize();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return frames / seconds;
}

export async function run(context: BenchContext): Promise<void> {
  const frames = context.short ? 3_000 : 20_000;
  const peer = await ackingPeer();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tether-bench-store-"));
  try {
    const variants: Array<[string, () => ConversationStorage | undefined]> = [
      ["memory (default)", () => undefined],
      ["file, fsync every 100 ms", () => fileStore(path.join(dir, "a"), { fsyncEveryMs: 100 })],
      ["file, fsync every record", () => fileStore(path.join(dir, "b"), { fsyncEveryMs: 0 })],
    ];
    await framesPerSecond(peer.url, Math.min(frames, 1_000), undefined); // warm up
    const results: Array<[string, number]> = [];
    for (const [name, make] of variants) results.push([name, await framesPerSecond(peer.url, frames, make())]);
    const memory = results[0]?.[1] ?? 1;
    for (const [name, rate] of results) {
      context.report(
        `${name.padEnd(26)} ${Math.round(rate).toString().padStart(7)} frames/s  (${((rate * FRAME_BYTES) / 1e6).toFixed(1)} MB/s, ${(rate / memory).toFixed(2)}x memory)`,
      );
    }
    context.report(`${frames} frames of ${FRAME_BYTES} bytes (100 ms of 16 kHz pcm16) each, acked per 1 s chunk`);
  } finally {
    await peer.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
