/**
 * One unary gRPC method called over one HTTP/2 session of our own, with the client
 * libraries' retries: the ingress's hot-path RPCs (Pub/Sub's Publish, publish-rpc.ts;
 * Firestore's BatchWrite, batch-write-rpc.ts) skip the libraries' per-call layers, which
 * cost more CPU than the calls' own bytes (bench/NOTES.md has the figures). The request
 * arrives encoded (a list of buffers, written as they are); the response's bytes go to the
 * caller's decoder.
 */
import http2 from "node:http2";
import { GrpcStatus } from "../../shared/grpc-error";

/** Where the calls go, and the headers each call carries (credentials). */
export interface GrpcEndpoint {
  /** `http://host:port` (an emulator) or `https://service.googleapis.com:443`. */
  readonly origin: string;
  headers(): Promise<Record<string, string>>;
  /** The one CA to trust instead of the system's (a test's TLS server); production leaves it out. */
  readonly tls?: { readonly ca: string | Buffer };
}

/** What a google-auth-library client answers for a call's headers (a `Headers` in newer versions). */
export interface RequestHeadersSource {
  getRequestHeaders(): Promise<Headers | Record<string, string>>;
}

/** A google-auth-library client's headers (authorization) as plain, lower-case HTTP/2 headers. */
export async function authHeaders(auth: RequestHeadersSource): Promise<Record<string, string>> {
  const headers: Record<string, string> = {};
  new Headers(await auth.getRequestHeaders()).forEach((value, name) => {
    headers[name] = value;
  });
  return headers;
}

/** When a failed call is retried: the client library's settings for the method. */
export interface RetryPolicy {
  readonly retryable: ReadonlySet<GrpcStatus>;
  readonly firstBackoffMs: number;
  readonly backoffMultiplier: number;
  readonly maxBackoffMs: number;
  /** Retries stop after this long. */
  readonly totalMs: number;
}

/** A failed call, with its gRPC status as `code` (as the client libraries' errors carry it). */
export class GrpcCallError extends Error {
  constructor(
    method: string,
    readonly code: GrpcStatus,
    detail: string,
    /** Whether the method's retry policy retries this status. */
    readonly retryable: boolean,
  ) {
    super(`${method} failed: ${GrpcStatus[code] ?? `status ${code}`}: ${detail}`);
  }
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

/** One attempt's deadline, as the client libraries' (60 s for Publish and BatchWrite). */
const ATTEMPT_MS = 60_000;
/**
 * A connection idle this long is not reused: a middlebox may have dropped it without a word,
 * and a call on it would wait out its whole deadline (the libraries ping every 5 min instead).
 */
const IDLE_MS = 240_000;
/** Chunks in flight at a busy instance can pass nghttp2's default 10 MB per session. */
const SESSION_MEMORY_MB = 512;

export interface UnaryMethod {
  /** `/package.Service/Method`. */
  readonly path: string;
  /** Headers of every call besides the endpoint's (routing). */
  readonly headers: Readonly<Record<string, string>>;
  readonly retry: RetryPolicy;
}

/** Shorter only in tests of what a deadline or an idle connection does. */
export interface UnaryTiming {
  readonly attemptMs?: number;
  readonly idleMs?: number;
}

export class UnaryGrpc {
  private session: http2.ClientHttp2Session | undefined;
  /** When the current session last started a call (performance.now()). */
  private lastCallAt = 0;
  private readonly name: string;
  private readonly attemptMs: number;
  private readonly idleMs: number;

  constructor(
    private readonly endpoint: GrpcEndpoint,
    private readonly method: UnaryMethod,
    timing: UnaryTiming = {},
  ) {
    this.name = method.path.slice(method.path.lastIndexOf("/") + 1);
    this.attemptMs = timing.attemptMs ?? ATTEMPT_MS;
    this.idleMs = timing.idleMs ?? IDLE_MS;
  }

  /**
   * Sends `parts` (one gRPC message, prefix included) and decodes the answer, retried as the
   * client library would. A `decode` that throws fails the attempt as INTERNAL.
   */
  async call<T>(parts: readonly Buffer[], decode: (body: Buffer) => T): Promise<T> {
    const { retry } = this.method;
    const started = performance.now();
    for (let attempt = 0; ; attempt += 1) {
      try {
        const body = await this.once(parts);
        try {
          return decode(body);
        } catch (error) {
          throw this.error(GrpcStatus.INTERNAL, (error as Error).message);
        }
      } catch (error) {
        const backoff = Math.min(retry.firstBackoffMs * retry.backoffMultiplier ** attempt, retry.maxBackoffMs);
        // What carries no gRPC status (credentials that failed to load, a session out of stream ids) is retried.
        const retryable = !(error instanceof GrpcCallError) || error.retryable;
        if (!retryable || performance.now() - started + backoff > retry.totalMs) throw error;
        await new Promise((resolve) => setTimeout(resolve, backoff * (0.5 + Math.random() / 2)));
      }
    }
  }

  /** Opens the session before the first call needs it. */
  connect(): void {
    this.current();
  }

  close(): void {
    if (this.session !== undefined) this.retire(this.session);
  }

  error(code: GrpcStatus, detail: string): GrpcCallError {
    return new GrpcCallError(this.name, code, detail, this.method.retry.retryable.has(code));
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

  /** One attempt: the response message's bytes (prefix removed), or a GrpcCallError. */
  private async once(parts: readonly Buffer[]): Promise<Buffer> {
    const headers = await this.endpoint.headers();
    return await new Promise<Buffer>((resolve, reject) => {
      const session = this.current();
      let stream: http2.ClientHttp2Stream;
      try {
        stream = session.request(
          {
            ":method": "POST",
            ":path": this.method.path,
            "content-type": "application/grpc",
            te: "trailers",
            "grpc-timeout": `${this.attemptMs}m`,
            ...this.method.headers,
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
          reject(this.error(GrpcStatus.DEADLINE_EXCEEDED, `no answer in ${this.attemptMs} ms`));
        } else if (status === undefined) {
          reject(
            this.error(GrpcStatus.UNAVAILABLE, `the stream closed without a status (code ${stream.rstCode})${failure}`),
          );
        } else if (status !== 0) {
          reject(this.error(status, detail));
        } else {
          resolve(Buffer.concat(received).subarray(5));
        }
      });
      for (const part of parts) stream.write(part);
      stream.end();
    });
  }
}
