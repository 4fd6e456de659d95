/**
 * Pub/Sub's Publish RPC as gRPC over one HTTP/2 session of our own, for the audio topic only.
 * The client library copies each chunk twice on the way out (protobuf's encoding, then gRPC's
 * framing) and wraps every RPC in layers that cost more CPU than the chunk's own bytes; here
 * the chunk's buffer is written to the socket as it is (bench/NOTES.md has the figures).
 *
 * The endpoint and the credentials are the client library's own (`PubSub`), so the same
 * settings reach the emulator locally and Google Cloud in production.
 */
import type { PubSub } from "@google-cloud/pubsub";
import { GrpcStatus } from "../../shared/grpc-error";
import { authHeaders, type GrpcEndpoint, UnaryGrpc, type UnaryTiming } from "./grpc-unary";
import { decodePublishResponse, encodePublishRequest, type WireMessage } from "./publish-wire";

/** The client library's Publish retry settings (its publisher_client_config.json). */
const PUBLISH_RETRY = {
  retryable: new Set([
    GrpcStatus.CANCELLED,
    GrpcStatus.UNKNOWN,
    GrpcStatus.DEADLINE_EXCEEDED,
    GrpcStatus.RESOURCE_EXHAUSTED,
    GrpcStatus.ABORTED,
    GrpcStatus.INTERNAL,
    GrpcStatus.UNAVAILABLE,
  ]),
  firstBackoffMs: 100,
  // Publish's own multiplier, not the library's default 1.3.
  backoffMultiplier: 4,
  maxBackoffMs: 60_000,
  totalMs: 600_000,
};

/** The client library's own endpoint and credentials. */
export function endpointOf(pubsub: PubSub): GrpcEndpoint {
  const { servicePath = "pubsub.googleapis.com", port = 443 } = pubsub.options as {
    servicePath?: string;
    port?: number;
  };
  if (pubsub.isEmulator) return { origin: `http://${servicePath}:${port}`, headers: async () => ({}) };
  return { origin: `https://${servicePath}:${port}`, headers: () => authHeaders(pubsub.auth) };
}

export class PublishRpc {
  private readonly grpc: UnaryGrpc;

  constructor(
    endpoint: GrpcEndpoint,
    private readonly topic: string,
    /** Shorter only in tests of what a deadline or an idle connection does. */
    timing: UnaryTiming = {},
  ) {
    this.grpc = new UnaryGrpc(
      endpoint,
      {
        path: "/google.pubsub.v1.Publisher/Publish",
        headers: { "x-goog-request-params": `topic=${encodeURIComponent(topic)}` },
        retry: PUBLISH_RETRY,
      },
      timing,
    );
  }

  /** Publishes `messages` in one request, retried as the client library would; resolves with their ids. */
  async publish(messages: readonly WireMessage[]): Promise<string[]> {
    return await this.grpc.call(encodePublishRequest(this.topic, messages), (body) => {
      const ids = decodePublishResponse(body);
      if (ids.length !== messages.length) throw new Error(`${ids.length} message ids for ${messages.length} messages`);
      return ids;
    });
  }

  /** Opens the session before the first chunk needs it. */
  connect(): void {
    this.grpc.connect();
  }

  close(): void {
    this.grpc.close();
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
