/**
 * A bare WebSocket client for protocol tests: sends exactly what a test says (including
 * what the SDK would never send) and records every message and the close.
 */
import WebSocket from "ws";
import type { Codec, SampleRate } from "../../shared/audio-format";
import { listenQueryString, listenSubprotocols } from "../../shared/protocol";

export interface RawMessage {
  type: string;
  [key: string]: unknown;
}

export interface RawClose {
  code: number;
  reason: string;
}

export class RawClient {
  readonly messages: RawMessage[] = [];
  readonly closed: Promise<RawClose>;
  /** The HTTP status when the upgrade itself was refused. */
  readonly refused: Promise<number | undefined>;
  private readonly waiters = new Set<() => void>();

  constructor(readonly ws: WebSocket) {
    ws.on("message", (data, isBinary) => {
      if (!isBinary) this.messages.push(JSON.parse(data.toString()) as RawMessage);
      for (const wake of [...this.waiters]) wake();
    });
    this.closed = new Promise((resolve) =>
      ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    this.refused = new Promise((resolve) => {
      ws.on("unexpected-response", (_req, res) => {
        resolve(res.statusCode);
        ws.terminate();
      });
      ws.on("open", () => resolve(undefined));
      ws.on("error", () => resolve(undefined));
    });
  }

  /** Waits for the first message of `type` after index `from`. */
  async next(type: string, from = 0, timeoutMs = 15_000): Promise<RawMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.slice(from).find((m) => m.type === type);
      if (found) return found;
      if (Date.now() > deadline)
        throw new Error(`no ${type} message (got ${this.messages.map((m) => m.type).join(", ")})`);
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiters.delete(wake);
          resolve();
        };
        this.waiters.add(wake);
        setTimeout(wake, 100);
      });
    }
  }

  /** Waits until an ack at or beyond `position` arrived. */
  async ackAtLeast(position: number, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.messages.some((m) => m.type === "ack" && Number(m.position) >= position)) {
      if (Date.now() > deadline) throw new Error(`no ack reached ${position}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  acks(): number[] {
    return this.messages.filter((m) => m.type === "ack").map((m) => Number(m.position));
  }

  send(data: Buffer | string): void {
    this.ws.send(data);
  }

  json(message: unknown): void {
    this.ws.send(JSON.stringify(message));
  }

  async opened(): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN) return;
    await new Promise<void>((resolve, reject) => {
      this.ws.once("open", () => resolve());
      this.ws.once("error", reject);
    });
  }
}

export interface RawConnectOptions {
  token?: string | undefined;
  /** Send the token as `access_token` instead of a header. */
  tokenInQuery?: boolean;
  /** Offer the token in `Sec-WebSocket-Protocol` (`tether.v1`, `tether.bearer.<jwt>`) instead of a header, as browsers do. */
  tokenInProtocol?: boolean;
  codec?: Codec;
  sampleRate?: SampleRate;
  conversationId?: string;
  resumeToken?: string;
  /** Replaces the whole query string. */
  rawQuery?: string;
  path?: string;
}

export function rawConnect(baseUrl: string, options: RawConnectOptions = {}): RawClient {
  const query =
    options.rawQuery ??
    listenQueryString({
      codec: options.codec ?? "pcm16",
      sampleRate: options.sampleRate ?? 8000,
      conversationId: options.conversationId,
      resumeToken: options.resumeToken,
      accessToken: options.tokenInQuery ? options.token : undefined,
    });
  const url = new URL(baseUrl);
  if (options.path) url.pathname = options.path;
  url.search = query;
  const headers: Record<string, string> = {};
  const viaHeader = !options.tokenInQuery && !options.tokenInProtocol;
  if (options.token !== undefined && viaHeader) headers.authorization = `Bearer ${options.token}`;
  const protocols = options.tokenInProtocol && options.token !== undefined ? listenSubprotocols(options.token) : [];
  return new RawClient(new WebSocket(url.toString(), protocols, { headers, perMessageDeflate: false }));
}
