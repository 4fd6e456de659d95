/**
 * A scripted server for SDK unit tests: each socket the SDK opens is recorded with what it
 * sent, and the test answers as the ingress would (ready, ack, finalized, error + close).
 */
import type { SocketFactory, SocketLike } from "../../client";

export class FakeSocket implements SocketLike {
  readyState = 0;
  binaryType = "blob";
  readonly sent: Array<Uint8Array | string> = [];
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  closedWith: number | undefined;

  constructor(
    readonly url: string,
    readonly headers: Readonly<Record<string, string>>,
  ) {}

  get query(): URLSearchParams {
    return new URL(this.url).searchParams;
  }

  send(data: string | ArrayBufferView | ArrayBuffer): void {
    if (typeof data === "string") this.sent.push(data);
    else if (data instanceof ArrayBuffer) this.sent.push(new Uint8Array(data.slice(0)));
    else this.sent.push(new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)));
  }

  close(code = 1000): void {
    this.closedWith = code;
    this.readyState = 3;
  }

  terminate(): void {
    this.drop(1006);
  }

  /** Audio bytes this socket carried, concatenated. */
  audio(): Buffer {
    return Buffer.concat(this.sent.filter((s): s is Uint8Array => typeof s !== "string").map((s) => Buffer.from(s)));
  }

  texts(): Array<Record<string, unknown>> {
    return this.sent
      .filter((s): s is string => typeof s === "string")
      .map((s) => JSON.parse(s) as Record<string, unknown>);
  }

  // ---- the server's side

  message(message: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(message) });
  }

  /** The session id its `ready` named ("" before). */
  sessionId = "";

  ready(
    fields: {
      environment?: string;
      conversation_id?: string;
      position?: number;
      chunk_size?: number;
      resume_token?: string;
    } = {},
  ): void {
    this.readyState = 1;
    this.sessionId = `s-${Math.random().toString(36).slice(2)}`;
    this.onopen?.({});
    this.message({
      type: "ready",
      protocol: 1,
      environment: fields.environment ?? "staging",
      conversation_id: fields.conversation_id ?? "conv-0001",
      session_id: this.sessionId,
      resume_token: fields.resume_token ?? "resume.token.staging",
      position_unit: "byte",
      position: fields.position ?? 0,
      chunk_size: fields.chunk_size ?? 1000,
    });
  }

  ack(position: number): void {
    this.message({ type: "ack", position });
  }

  /** The server refuses: error message, then its close code. */
  refuse(code: number, error: Record<string, unknown>): void {
    this.message({ type: "error", message: "refused", ...error });
    this.drop(code);
  }

  drop(code: number, reason = ""): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

export class FakeServer {
  readonly sockets: FakeSocket[] = [];
  readonly factory: SocketFactory = (url, headers) => {
    const socket = new FakeSocket(url, headers);
    this.sockets.push(socket);
    return socket;
  };

  get last(): FakeSocket {
    const socket = this.sockets[this.sockets.length - 1];
    if (socket === undefined) throw new Error("no socket was opened");
    return socket;
  }

  /** Waits until the SDK opened `count` sockets (reconnect delays in these tests are ~1 ms). */
  async opened(count: number): Promise<FakeSocket> {
    const deadline = Date.now() + 5_000;
    while (this.sockets.length < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 1));
    const socket = this.sockets[count - 1];
    if (socket === undefined) throw new Error(`the SDK opened ${this.sockets.length} sockets, not ${count}`);
    return socket;
  }
}
