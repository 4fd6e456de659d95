/**
 * What one socket sent to Pub/Sub, until it is durable and acknowledged: complete chunks
 * in flight, text messages (events) in flight, and the commits of the durable position that
 * each `ack` waits for. The positions and event numbers are kept by the shared ledgers
 * (shared/ack-ledger.ts, shared/text-ledger.ts), as the client keeps them.
 *
 * - A chunk's position is recorded (with how many events are confirmed) only once every
 *   chunk before it is published and every text message received before its audio is
 *   confirmed (PROTOCOL.md section 2: text is acknowledged through the audio).
 * - Acks are cumulative, monotonic, and never beyond what the socket received.
 */
import { AckLedger } from "../../shared/ack-ledger";
import type { Logger } from "../../shared/logger";
import { publishFailed } from "../../shared/logger";
import type { EventBody } from "../../shared/messages";
import { EventSequence } from "../../shared/text-ledger";
import type { SocketLoad } from "./backpressure";
import type { CutChunk } from "./chunker";
import type { ConditionalWrite } from "./conversation-store";
import type { LiveConversation } from "./live-conversation";
import type { PublishBudget } from "./publish-budget";
import type { IngressPublisher, SessionTags } from "./publisher";
import type { IngressSocket } from "./socket";

export type LostConversation = Exclude<ConditionalWrite, { ok: true }>;

export interface DurableCommitsDeps {
  readonly socket: Pick<IngressSocket, "sendJson">;
  readonly publisher: IngressPublisher;
  readonly budget: PublishBudget;
  readonly conversation: LiveConversation;
  readonly tags: SessionTags;
  /** Where the conversation was durable when the socket opened. */
  readonly durablePosition: number;
  readonly logger: () => Logger;
  /** What now waits for Pub/Sub, after every change (backpressure.ts). */
  readonly load: (load: SocketLoad) => void;
  readonly failed: (error: unknown, context: string, fields?: Record<string, unknown>) => void;
  /** A commit found the conversation taken over or finalized. */
  readonly lost: (result: LostConversation) => void;
}

interface InFlightChunk {
  readonly end: number;
  /** When the chunk was complete (performance.now()), for the latency breakdown. */
  readonly completedAt: number;
  /** When Pub/Sub confirmed it; undefined until then. */
  publishedAt: number | undefined;
}

export class DurableCommits {
  private readonly audio: AckLedger;
  private readonly events = new EventSequence();
  private readonly inFlight: InFlightChunk[] = [];
  private readonly work = new Set<Promise<void>>();
  private readonly pendingEvents = new Set<Promise<void>>();
  /** Bytes of text messages waiting for Pub/Sub (they count against the budget like audio). */
  private eventBytesInFlight = 0;

  constructor(private readonly deps: DurableCommitsDeps) {
    this.audio = new AckLedger(deps.durablePosition);
  }

  get tags(): SessionTags {
    return this.deps.tags;
  }

  get acked(): number {
    return this.audio.acked;
  }

  get load(): SocketLoad {
    return { chunks: this.inFlight.length, eventBytes: this.eventBytesInFlight };
  }

  /** `units` of audio were accepted from the socket (an ack may cover them once durable). */
  received(units: number): void {
    this.audio.carry(units);
  }

  publishChunk(chunk: CutChunk): void {
    const { conversation, tags, budget } = this.deps;
    const entry: InFlightChunk = { end: chunk.end, completedAt: performance.now(), publishedAt: undefined };
    const bytes = chunk.body.length;
    this.inFlight.push(entry);
    budget.add(bytes);
    this.track(
      this.deps.publisher.publishChunk(tags, conversation.format, chunk).then(
        () => {
          budget.release(bytes);
          // Pub/Sub stored the chunk, so no request holds the buffer; after a failure it is left to the GC.
          chunk.recycle?.();
          entry.publishedAt = performance.now();
          this.advance();
        },
        (error: unknown) => {
          budget.release(bytes);
          this.deps.failed(error, `publishing chunk ${chunk.index} failed`, publishFailed("audio"));
        },
      ),
    );
    this.reportLoad();
  }

  /** `bytes`: the text frame's size, held against the socket's and the process's budgets until Pub/Sub confirms it. */
  publishEvent(body: EventBody, bytes: number): void {
    const seq = this.events.next();
    const { budget } = this.deps;
    this.eventBytesInFlight += bytes;
    budget.add(bytes);
    const settle = (): void => {
      this.eventBytesInFlight -= bytes;
      budget.release(bytes);
      this.reportLoad();
    };
    const published = this.deps.publisher.publishEvent(this.deps.tags, body, seq).then(
      (eventId) => {
        settle();
        this.events.confirm(seq);
        this.deps.logger().debug({ event_id: eventId, event_type: body.type, seq }, "event published");
      },
      (error: unknown) => {
        settle();
        this.deps.failed(error, `publishing a ${body.type} event failed`, publishFailed("events"));
      },
    );
    this.pendingEvents.add(published);
    void published.finally(() => this.pendingEvents.delete(published));
    this.track(published);
    this.reportLoad();
  }

  /** How many of this socket's events (1..n, without a gap) Pub/Sub confirmed. */
  eventsConfirmed(): number {
    return this.events.confirmedThrough;
  }

  /** Waits for every event published so far (including ones that arrive meanwhile). */
  async eventsSettled(): Promise<number> {
    while (this.pendingEvents.size > 0) await Promise.allSettled([...this.pendingEvents]);
    return this.events.confirmedThrough;
  }

  /** Resolves when every complete chunk and event received is published and recorded (or failed). */
  async settled(): Promise<void> {
    while (this.work.size > 0) await Promise.allSettled([...this.work]);
  }

  /** Acks `position` once it is durable; false (nothing sent) when it acknowledges nothing new. */
  sendAck(position: number): boolean {
    const verdict = this.audio.acknowledge(position);
    if (verdict === "beyond") {
      this.deps.failed(
        new Error(`ack at ${position} beyond the ${this.audio.carried} units received`),
        "an ack would pass what the socket received",
      );
    }
    if (verdict !== "advanced") return false;
    this.deps.socket.sendJson({ type: "ack", position });
    return true;
  }

  private track(promise: Promise<void>): void {
    this.work.add(promise);
    void promise.finally(() => this.work.delete(promise));
  }

  private reportLoad(): void {
    this.deps.load(this.load);
  }

  /**
   * Chunks published in stream order up to the first unpublished one -> once the events
   * received before that audio are confirmed, record the position (with the event count),
   * then ack.
   */
  private advance(): void {
    let last: InFlightChunk | undefined;
    while (this.inFlight[0]?.publishedAt !== undefined) last = this.inFlight.shift();
    this.reportLoad();
    if (last === undefined) return;
    const { conversation, tags } = this.deps;
    const { end: position, completedAt, publishedAt = completedAt } = last;
    // Text messages received before this audio are confirmed before its position is recorded.
    const eventsBefore = [...this.pendingEvents];
    this.track(
      Promise.all(eventsBefore)
        .then(() => conversation.commit(position, tags.sessionId, () => this.events.confirmedThrough))
        .then(
          (result) => {
            if (!result.ok) {
              this.deps.lost(result);
              return;
            }
            const committedAt = performance.now();
            this.sendAck(position);
            this.deps.logger().debug(
              {
                position,
                publish_ms: Math.round(publishedAt - completedAt),
                commit_ms: Math.round(committedAt - publishedAt),
                ack_ms: Math.round(committedAt - completedAt),
              },
              "chunk durable",
            );
          },
          (error: unknown) => this.deps.failed(error, "recording the durable position failed"),
        ),
    );
  }
}
