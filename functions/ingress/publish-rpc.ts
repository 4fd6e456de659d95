/**
 * Pub/Sub's Publish RPC as gRPC over one HTTP/2 session of our own, for the audio topic only.
 * The client library copies each chunk twice on the way out (protobuf's encoding, then gRPC's
 * framing) and wraps every RPC in layers that cost more CPU than the chunk's own bytes; here
 * the chunk's buffer is written to the socket as it is (bench/NOTES.md has the figures).
 *
 * The endpoint and the credentials are the client library's own (`PubSub`), so the same
 * settings reach the emulator locally and Google Cloud in production.
 */
import http2 from "node:http2";
import type { PubSub } from "@google-cloud/pubsub";
import { GrpcStatus } from "../../shared/grpc-error";
import { decodePublishResponse, encodePublishRequest, type WireMessage } from "./publish-wire";

/** The status codes the client library retries a Publish on (its publisher_client_config.json). */
const RETRYABLE: ReadonlySet<GrpcStatus> = new Set([
  GrpcStatus.CANCELLED,
  GrpcStatus.UNKNOWN,
  GrpcStatus.DEADLINE_EXCEEDED,
  GrpcStatus.RESOURCE_EXHAUSTED,
  GrpcStatus.ABORTED,
  GrpcStatus.INTERNAL,
  GrpcStatus.UNAVAILABLE,
]);

/** A failed Publish, with its gRPC status as `code` (as the client library's errors carry it). */
export class PublishRpcError extends Error {
  constructor(
    readonly code: GrpcStatus,
    detail: string,
  ) {
    super(`Publish failed: ${GrpcStatus[code] ?? `status ${code}`}: ${detail}`);
  }

  get retryable(): boolean {
    return RETRYABLE.has(this.code);
  }
}

/** Where the Publish RPC goes, and the headers each call carries (credentials). */
export interface PublishEndpoint {
  /** `http://host:port` (an emulator) or `https://pubsub.googleapis.com`. */
  readonly origin: string;
  headers(): Promise<Record<string, string>>;
  /** The one CA to trust instead of the system's (a test's TLS server); production leaves it out. */
  readonly tls?: { readonly ca: string | Buffer };
}

/** The client library's own endpoint and credentials. */
export function endpointOf(pubsub: PubSub): PublishEndpoint {
  const { servicePath = "pubsub.googleapis.com", port = 443 } = pubsub.options as {
    servicePath?: string;
    port?: number;
  };
  if (pubsub.isEmulator) return { origin: `http://${servicePath}:${port}`, headers: async () => ({}) };
  return {
    origin: `https://${servicePath}:${port}`,
    headers: async () => {
      const headers: Record<string, string> = {};
      new Headers(await pubsub.auth.getRequestHeaders()).forEach((value, name) => {
        headers[name] = value;
      });
      return headers;
    },
  };
}

/**
 * A `grpc-message` is percent-encoded, but one from a proxy may not be: kept as it came then,
 * since a throw here, in a stream's event, would take the process down.
 */
function grpcMessage(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** The gRPC status of an HTTP answer that carries none (gRPC's "HTTP to gRPC status code mapping"). */
function statusOfHttp(httpStatus: number | undefined): GrpcStatus {
  switch (httpStatus) {
    case 400:
      return GrpcStatus.INTERNAL;
    case 401:
      return GrpcStatus.UNAUTHENTICATED;
    case 403:
      return GrpcStatus.PERMISSION_DENIED;
    case 404:
      return GrpcStatus.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcStatus.UNAVAILABLE;
    default:
      return GrpcStatus.UNKNOWN;
  }
}

/** One attempt's deadline, as the client library's (60 s). */
const ATTEMPT_MS = 60_000;
/** Retries stop after this long, as the client library's total timeout. */
const TOTAL_MS = 600_000;
const FIRST_BACKOFF_MS = 100;
/** The library's Publish retry params (not its default 1.3). */
const BACKOFF_MULTIPLIER = 4;
const MAX_BACKOFF_MS = 60_000;
/**
 * A connection idle this long is not reused: a middlebox may have dropped it without a word,
 * and a call on it would wait out its whole deadline (the library pings every 5 min instead).
 */
const IDLE_MS = 240_000;
/** Chunks in flight at a busy instance can pass nghttp2's default 10 MB per session. */
const SESSION_MEMORY_MB = 512;

export class PublishRpc {
  private session: http2.ClientHttp2Session | undefined;
  /** When the current session last started a call (performance.now()). */
  private lastCallAt = 0;
  private readonly path = "/google.pubsub.v1.Publisher/Publish";
  private readonly attemptMs: number;
  private readonly idleMs: number;

  constructor(
    private readonly endpoint: PublishEndpoint,
    private readonly topic: string,
    /** Shorter only in tests of what a deadline or an idle connection does. */
    timing: { readonly attemptMs?: number; readonly idleMs?: number } = {},
  ) {
    this.attemptMs = timing.attemptMs ?? ATTEMPT_MS;
    this.idleMs = timing.idleMs ?? IDLE_MS;
  }

  /** Publishes `messages` in one request, retried as the client library would; resolves with their ids. */
  async publish(messages: readonly WireMessage[]): Promise<string[]> {
    const parts = encodePublishRequest(this.topic, messages);
    const started = performance.now();
    for (let attempt = 0; ; attempt += 1) {
      try {
        const ids = await this.call(parts);
        if (ids.length !== messages.length) {
          throw new PublishRpcError(GrpcStatus.INTERNAL, `${ids.length} message ids for ${messages.length} messages`);
        }
        return ids;
      } catch (error) {
        const backoff = Math.min(FIRST_BACKOFF_MS * BACKOFF_MULTIPLIER ** attempt, MAX_BACKOFF_MS);
        const retryable = !(error instanceof PublishRpcError) || error.retryable;
        if (!retryable || performance.now() - started + backoff > TOTAL_MS) throw error;
        await new Promise((resolve) => setTimeout(resolve, backoff * (0.5 + Math.random() / 2)));
      }
    }
  }

  /** Opens the session before the first chunk needs it. */
  connect(): void {
    this.current();
  }

  close(): void {
    if (this.session !== undefined) this.retire(this.session);
  }

  private current(): http2.ClientHttp2Session {
    const open = this.session;
    const now = performance.now();
    const idle = now - this.lastCallAt > this.idleMs;
    this.lastCallAt = now;
    if (open !== undefined && !open.closed && !open.destroyed) {
      if (!idle) return open;
      this.retire(open);
    }
    const session = http2.connect(this.endpoint.origin, { maxSessionMemory: SESSION_MEMORY_MB, ...this.endpoint.tls });
    const forget = (): void => {
      if (this.session === session) this.session = undefined;
    };
    // A session that fails or is told to go away takes no new calls; its calls fail and are retried.
    session.on("error", forget);
    session.on("goaway", forget);
    session.on("close", forget);
    session.unref();
    this.session = session;
    return session;
  }

  /**
   * A call unanswered by its deadline may be on a connection that died silently (a NAT that
   * forgot it sends no RST, and TCP gives up only after ~15 min): later calls take a new one,
   * and this one closes once its other calls end.
   */
  private retire(session: http2.ClientHttp2Session): void {
    if (this.session === session) this.session = undefined;
    session.close();
  }

  private async call(parts: readonly Buffer[]): Promise<string[]> {
    const headers = await this.endpoint.headers();
    return await new Promise<string[]>((resolve, reject) => {
      const session = this.current();
      let stream: http2.ClientHttp2Stream;
      try {
        stream = session.request(
          {
            ":method": "POST",
            ":path": this.path,
            "content-type": "application/grpc",
            te: "trailers",
            "grpc-timeout": `${this.attemptMs}m`,
            "x-goog-request-params": `topic=${encodeURIComponent(this.topic)}`,
            ...headers,
          },
          { endStream: false },
        );
      } catch (error) {
        // A session that cannot open a stream (e.g. out of stream ids) is replaced for the retry.
        this.retire(session);
        throw error;
      }
      const received: Buffer[] = [];
      let status: number | undefined;
      let detail = "";
      const takeStatus = (fields: http2.IncomingHttpHeaders): void => {
        const code = fields["grpc-status"];
        if (code === undefined) return;
        status = Number(code);
        detail = grpcMessage(String(fields["grpc-message"] ?? ""));
      };
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        stream.close(http2.constants.NGHTTP2_CANCEL);
        this.retire(session);
      }, this.attemptMs);
      stream.on("response", (fields) => {
        const httpStatus = fields[":status"];
        if (httpStatus !== 200) {
          status = statusOfHttp(httpStatus);
          detail = `HTTP status ${httpStatus}`;
        }
        takeStatus(fields);
      });
      stream.on("trailers", takeStatus);
      stream.on("data", (data: Buffer) => received.push(data));
      let failure = "";
      stream.on("error", (error) => {
        failure = `: ${error.message}`;
      });
      stream.on("close", () => {
        clearTimeout(timer);
        if (timedOut) {
          reject(new PublishRpcError(GrpcStatus.DEADLINE_EXCEEDED, `no answer in ${this.attemptMs} ms`));
        } else if (status === undefined) {
          reject(
            new PublishRpcError(
              GrpcStatus.UNAVAILABLE,
              `the stream closed without a status (code ${stream.rstCode})${failure}`,
            ),
          );
        } else if (status !== 0) {
          reject(new PublishRpcError(status, detail));
        } else {
          try {
            resolve(decodePublishResponse(Buffer.concat(received).subarray(5)));
          } catch (error) {
            reject(new PublishRpcError(GrpcStatus.INTERNAL, (error as Error).message));
          }
        }
      });
      for (const part of parts) stream.write(part);
      stream.end();
    });
  }
}

/** A message to publish, and what waits for its id. */
interface Queued {
  readonly message: WireMessage;
  resolve(id: string): void;
  reject(error: unknown): void;
}

/**
 * Messages gathered into requests: a message waits at most `windowMs` for others to share its
 * request, and a request holds at most `maxMessages` and about `maxBytes`.
 */
export class PublishQueue {
  private waiting: Queued[] = [];
  private waitingBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly rpc: PublishRpc,
    private readonly limits: { maxMessages: number; maxBytes: number },
  ) {}

  /** `windowMs` 0 sends at once, with whatever is waiting. */
  publish(message: WireMessage, windowMs: number): Promise<string> {
    const queued = new Promise<string>((resolve, reject) => this.waiting.push({ message, resolve, reject }));
    this.waitingBytes += message.data.length;
    if (windowMs === 0 || this.waiting.length >= this.limits.maxMessages || this.waitingBytes >= this.limits.maxBytes) {
      this.send();
    } else if (this.timer === undefined) {
      this.timer = setTimeout(() => this.send(), windowMs);
    }
    return queued;
  }

  /** Sends what waits, and resolves once every request so far settled. */
  async flush(): Promise<void> {
    this.send();
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private send(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.waiting;
    if (batch.length === 0) return;
    this.waiting = [];
    this.waitingBytes = 0;
    const sent = this.rpc.publish(batch.map((queued) => queued.message)).then(
      (ids) => {
        batch.forEach((queued, i) => {
          queued.resolve(ids[i] as string);
        });
      },
      (error: unknown) => {
        for (const queued of batch) queued.reject(error);
      },
    );
    this.inFlight.add(sent);
    void sent.finally(() => this.inFlight.delete(sent));
  }
}
