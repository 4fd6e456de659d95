/**
 * A bare WebSocket client of PROTOCOL.md section 2, for end-to-end tests of the workers
 * and the API behind the real ingress: it sends frames and waits for typed server messages.
 */
import WebSocket from "ws";

export interface ServerMessage {
  readonly type: string;
  readonly [field: string]: unknown;
}

export class ProtocolSocket {
  private readonly received: ServerMessage[] = [];
  private readonly waiters: Array<() => void> = [];
  closed: { code: number } | undefined;

  private constructor(private readonly socket: WebSocket) {
    socket.on("message", (data, isBinary) => {
      if (!isBinary) this.received.push(JSON.parse(data.toString()) as ServerMessage);
      this.wake();
    });
    socket.on("close", (code) => {
      this.closed = { code };
      this.wake();
    });
  }

  static async open(url: string, token: string): Promise<ProtocolSocket> {
    const socket = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
    const client = new ProtocolSocket(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once("open", () => resolve());
      socket.once("error", reject);
    });
    return client;
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  /** The first received message of `type` satisfying `accept`, waiting for it if needed. */
  async next(type: string, accept: (m: ServerMessage) => boolean = () => true): Promise<ServerMessage> {
    for (;;) {
      const index = this.received.findIndex((m) => m.type === type && accept(m));
      if (index >= 0) return this.received.splice(index, 1)[0] as ServerMessage;
      if (this.closed) throw new Error(`socket closed with ${this.closed.code} while waiting for ${type}`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  sendAudio(bytes: Buffer, frameBytes = 3200): void {
    for (let offset = 0; offset < bytes.length; offset += frameBytes)
      this.socket.send(bytes.subarray(offset, offset + frameBytes));
  }

  sendJson(message: Record<string, unknown>): void {
    this.socket.send(JSON.stringify(message));
  }

  /** Drops the connection without a close handshake, as a lost network does. */
  terminate(): void {
    this.socket.terminate();
  }
}
