/**
 * A greedy client for the ingress bench: one socket that sends 256 KiB `segments` text
 * frames as fast as its TCP socket drains, re-sending the same segment ids (so only the
 * byte budgets, not the segment limit, hold it back). It records how many frames left it
 * and how the server closed it.
 */
import WebSocket from "ws";
import { MAX_TEXT_FRAME_BYTES } from "../shared/protocol";

export interface TextFlood {
  /** Frames written to the socket so far. */
  readonly sent: () => number;
  /** Stops sending; resolves with the close code once the socket is closed. */
  stop(): Promise<number>;
}

function floodFrame(): string {
  const segments = [0, 1, 2].map((i) => ({ id: `flood-${i}`, start: i, end: i + 1, text: "" }));
  const skeleton = JSON.stringify({ type: "segments", segments }).length;
  const each = Math.floor((MAX_TEXT_FRAME_BYTES - 64 - skeleton) / 3);
  return JSON.stringify({ type: "segments", segments: segments.map((s) => ({ ...s, text: "x".repeat(each) })) });
}

export async function startTextFlood(url: string, headers: Record<string, string>): Promise<TextFlood> {
  const ws = new WebSocket(url, { headers, perMessageDeflate: false });
  const closed = new Promise<number>((resolve) => ws.on("close", (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.on("message", (data) => {
      if ((JSON.parse(data.toString()) as { type?: string }).type === "ready") resolve();
    });
    ws.on("error", reject);
  });
  const frame = floodFrame();
  let sent = 0;
  let stopped = false;
  const pump = (): void => {
    if (stopped || ws.readyState !== WebSocket.OPEN) return;
    // Keep about 1 MiB queued locally: as fast as the server reads, no faster.
    while (ws.bufferedAmount < 4 * MAX_TEXT_FRAME_BYTES) {
      ws.send(frame);
      sent += 1;
    }
    setTimeout(pump, 5);
  };
  pump();
  return {
    sent: () => sent,
    async stop() {
      stopped = true;
      if (ws.readyState === WebSocket.OPEN) ws.close();
      return await closed;
    },
  };
}
