/**
 * Audio chunks gathered into Pub/Sub publish RPCs of our own, sent with the generated client
 * (`v1.PublisherClient.publish`) rather than through `Topic.publishMessage`. The Publisher
 * layer re-validates every message, sizes its attributes, keeps a timer per batch, deep-copies
 * each request and walks it for project-id placeholders: work our chunks (built from
 * validated attributes) do not need. The RPC itself, its retries included, is the same call
 * the Publisher layer makes (the generated client's default publish retry settings).
 */
import type { PubSub, v1 } from "@google-cloud/pubsub";

/** One message of a publish request, as the generated client takes it. */
export interface OutgoingMessage {
  readonly data: Uint8Array;
  readonly attributes: Readonly<Record<string, string>>;
}

/** Sends one publish RPC; resolves with the message ids, in the order of `messages`. */
export type PublishRpc = (messages: OutgoingMessage[]) => Promise<readonly string[]>;

export interface GatherLimits {
  /** A chunk that follows another within this long waits for company up to this long. */
  readonly windowMs: number;
  readonly maxMessages: number;
  /** Of message data; the attributes of a chunk are a few hundred bytes, far below Pub/Sub's 10 MB per request. */
  readonly maxBytes: number;
}

/** Whether each chunk waits for company: yes when it came within `windowMs` of the one before. */
export class ChunkGathering {
  private lastAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly windowMs: number) {}

  next(now: number): boolean {
    const gather = now - this.lastAt < this.windowMs;
    this.lastAt = now;
    return gather;
  }
}

interface Waiter {
  resolve(messageId: string): void;
  reject(error: unknown): void;
}

/**
 * A lone chunk leaves at once in an RPC of its own (taking any gathered ones with it); one
 * that follows another within the window joins the open batch, which leaves when its window
 * ends or it is full. Each chunk's promise resolves with its own message id once Pub/Sub
 * stored it, and every chunk of a failed RPC is rejected with the RPC's error.
 */
export class GatheredPublisher {
  private readonly gathering: ChunkGathering;
  private messages: OutgoingMessage[] = [];
  private waiters: Waiter[] = [];
  private bytes = 0;
  private timer: NodeJS.Timeout | undefined;
  /** RPCs sent and not settled: `flush` waits for them. */
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly rpc: PublishRpc,
    private readonly limits: GatherLimits,
  ) {
    this.gathering = new ChunkGathering(limits.windowMs);
  }

  publish(message: OutgoingMessage): Promise<string> {
    const gather = this.gathering.next(performance.now());
    const size = message.data.length;
    if (this.messages.length > 0 && this.bytes + size > this.limits.maxBytes) this.send();
    const published = new Promise<string>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.messages.push(message);
    this.bytes += size;
    if (!gather || this.messages.length >= this.limits.maxMessages || this.bytes >= this.limits.maxBytes) this.send();
    else this.timer ??= setTimeout(() => this.send(), this.limits.windowMs);
    return published;
  }

  /** Sends what is gathered and waits for every RPC in flight; rejects if any of them failed. */
  async flush(): Promise<void> {
    this.send();
    const settled = await Promise.allSettled([...this.inFlight]);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed !== undefined) throw failed.reason;
  }

  private send(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.messages.length === 0) return;
    const messages = this.messages;
    const waiters = this.waiters;
    this.messages = [];
    this.waiters = [];
    this.bytes = 0;
    const settled = this.rpc(messages)
      .then((ids) => {
        if (ids.length !== waiters.length)
          throw new Error(`Pub/Sub answered ${ids.length} message ids for ${waiters.length} messages`);
        for (let i = 0; i < waiters.length; i += 1) waiters[i]?.resolve(ids[i] as string);
      })
      .catch((error: unknown) => {
        for (const waiter of waiters) waiter.reject(error);
        throw error;
      });
    this.inFlight.add(settled);
    const done = (): void => void this.inFlight.delete(settled);
    settled.then(done, done);
  }
}

/**
 * The publish RPC of `pubsub`'s own generated client (its channel, credentials and emulator
 * settings; closed with it), for the topic `topicId` of its project.
 */
export function publishRpcOf(pubsub: PubSub, topicId: string): PublishRpc {
  const topic = pubsub.topic(topicId).name;
  let client: v1.PublisherClient | undefined;
  return async (messages) => {
    // The client the Topic layer uses too: one channel for both topics.
    client ??= (await pubsub.getClientAsync_({ client: "PublisherClient" })) as unknown as v1.PublisherClient;
    // Not bundled by gax (the Publisher layer turns that off too); retried on the default
    // codes with the default backoff, as the Publisher layer's RPC is.
    const [response] = await client.publish({ topic, messages }, { isBundling: false });
    return response.messageIds ?? [];
  };
}
