/**
 * A conversation as one ingress instance holds it: the socket attached to it (at most one),
 * what is known durable, the idle timer, and the writes to its record, which run one at a
 * time so each carries the update time of the previous one.
 *
 * It outlives its sockets: after a disconnect it stays, so that the idle timeout finalizes
 * a conversation whose client never came back. It goes away when the conversation is
 * finalized, or when this instance learns that another instance owns it now.
 */
import type { Timestamp } from "@google-cloud/firestore";
import type { FinalIntent, ServerFinalizeReason } from "../../shared/lifecycle";
import { conversationLogger, type Logger } from "../../shared/logger";
import type { EventBody } from "../../shared/messages";
import type { CutChunk } from "./chunker";
import type { ConditionalWrite, ConversationStore, OpenedConversation } from "./conversation-store";
import { finalizeIdle, IdleClock } from "./idle-timeout";
import { ProtocolError } from "./protocol-error";
import type { AudioFormat, IngressPublisher, SessionTags } from "./publisher";
import type { SegmentQuota } from "./user-limits";

/** Attempts of the `finalizing` write once the final chunk is published (about 3 s in all). */
const FINALIZING_WRITE_ATTEMPTS = 5;

export type FinalizeReason = Extract<EventBody, { type: "finalize" }>["reason"];

/** What the conversation needs from the socket attached to it. */
export interface AttachedSocket {
  readonly sessionId: string;
  /** Finalizes through the socket (its partial chunk is the final chunk), then closes it with 1000. */
  finalize(reason: FinalizeReason): Promise<void>;
  /** Stops reading, waits for its publishes, closes it with 4001. */
  supersede(): Promise<void>;
  /** Resolves when everything it received complete is published and committed (or failed). */
  settled(): Promise<void>;
  /** How many of its events (seq 1..n) Pub/Sub confirmed, all of them. */
  eventsConfirmed(): number;
  /** The client went away before the socket was opened: it must not take the conversation over. */
  abandoned(): boolean;
}

export interface LiveConversationDeps {
  readonly store: ConversationStore;
  readonly publisher: IngressPublisher;
  readonly logger: Logger;
  readonly environment: string;
  readonly idleTimeoutMs: number;
  /** Called once the conversation leaves this instance (finalized, or owned elsewhere). */
  readonly onGone: (conversation: LiveConversation) => void;
  readonly now?: () => number;
}

export interface FinalizeRequest {
  readonly sessionId: string;
  readonly finalPosition: number;
  readonly finalChunk: CutChunk | undefined;
  readonly reason: FinalizeReason;
  /**
   * Called once the final chunk is confirmed: waits for the session's events in flight and
   * resolves with how many it had confirmed, which the `finalizing` write freezes.
   */
  readonly eventsConfirmed: () => Promise<number>;
}

export class LiveConversation {
  readonly id: string;
  readonly userId: string;
  readonly format: AudioFormat;
  readonly logger: Logger;
  /** Distinct segment ids against `conversation_segments`, across this instance's sockets (set at the first open). */
  segmentQuota: SegmentQuota | undefined;
  /** Every unit before this is published and recorded in Firestore. */
  durablePosition: number;
  /**
   * Where an earlier instance's finalize cut the stream before it died (lifecycle.ts
   * `intendFinalize`): the socket finalizes once its audio reaches it.
   */
  finalIntent: FinalIntent | undefined;
  /** The highest position the owning session asked to make durable (only ever published audio). */
  private wanted = 0;
  /** The session that owns the conversation (the last one that opened it here). */
  private activeSessionId: string;
  /** The owning session's ordinal in the conversation (its events' revisions). */
  private sessionOrdinal: number;
  /** How many of the owning session's events the record counts. */
  private eventsRecorded = 0;
  private socket: AttachedSocket | undefined;
  /** The last socket attached, kept after it detaches: a detached finalize counts its events. */
  private lastSocket: AttachedSocket | undefined;
  private detachedSettle: Promise<void> = Promise.resolve();
  private updateTime: Timestamp;
  /** Writes to the record, one after the other. */
  private writes: Promise<unknown> = Promise.resolve();
  private finalizing: Promise<number> | undefined;
  private gone = false;
  /** Why later writes are refused once the conversation left this instance. */
  private goneResult: ConditionalWrite = { ok: false, reason: "superseded" };
  private readonly idle: IdleClock;

  constructor(
    opened: OpenedConversation,
    sessionId: string,
    private readonly deps: LiveConversationDeps,
  ) {
    this.id = opened.conversationId;
    this.userId = opened.userId;
    this.format = { codec: opened.codec, sampleRate: opened.sampleRate, chunkSize: opened.chunkSize };
    this.durablePosition = opened.durablePosition;
    this.finalIntent = opened.finalIntent;
    this.updateTime = opened.updateTime;
    this.activeSessionId = sessionId;
    this.sessionOrdinal = opened.sessionOrdinal;
    this.logger = conversationLogger(deps.logger, { conversation_id: this.id, environment: deps.environment });
    this.idle = new IdleClock(deps.idleTimeoutMs, () => void finalizeIdle(this, deps.idleTimeoutMs), deps.now);
  }

  get isFinalizing(): boolean {
    return this.finalizing !== undefined;
  }

  get attached(): AttachedSocket | undefined {
    return this.socket;
  }

  /** A socket opened the conversation here (`opened` is the record after its open). */
  attach(socket: AttachedSocket, opened: OpenedConversation): void {
    this.socket = socket;
    this.lastSocket = socket;
    this.activeSessionId = socket.sessionId;
    this.sessionOrdinal = opened.sessionOrdinal;
    this.eventsRecorded = 0;
    this.wanted = 0;
    this.updateTime = opened.updateTime;
    this.durablePosition = Math.max(this.durablePosition, opened.durablePosition);
    this.finalIntent = opened.finalIntent;
    if (!this.gone) this.idle.start();
  }

  /** The socket closed; its complete chunks may still be publishing. */
  detach(socket: AttachedSocket): void {
    if (this.socket !== socket) return;
    this.socket = undefined;
    this.detachedSettle = socket.settled();
  }

  /** Audio arrived: the idle clock restarts. */
  touch(): void {
    this.idle.touch();
  }

  /** Runs `write` after every earlier write to the record (its precondition depends on them). */
  serialize<T>(write: () => Promise<T>): Promise<T> {
    const run = this.writes.then(write);
    this.writes = run.catch(() => undefined);
    return run;
  }

  /**
   * Makes `durable_position` at least `target` on behalf of `sessionId`, recording with it
   * how many of the session's events Pub/Sub confirmed (the caller awaited every event
   * received before that audio, so the record never covers audio past an unconfirmed text
   * message). A session that no longer owns the conversation writes nothing: its audio is
   * re-sent to the new owner.
   */
  async commit(target: number, sessionId: string, eventsConfirmed: () => number): Promise<ConditionalWrite> {
    if (sessionId === this.activeSessionId) this.wanted = Math.max(this.wanted, target);
    return await this.serialize(async (): Promise<ConditionalWrite> => {
      if (this.gone) return this.goneResult;
      if (sessionId !== this.activeSessionId) return { ok: false, reason: "superseded" };
      if (this.durablePosition >= target) return { ok: true, updateTime: this.updateTime };
      // Coalesce: commits queued behind this one find their target already durable.
      const position = Math.max(target, this.wanted);
      const events = eventsConfirmed();
      const result = await this.deps.store.commitDurable(
        this.id,
        sessionId,
        { position, eventsConfirmed: events },
        this.known(),
        this.updateTime,
      );
      if (result.ok) {
        this.updateTime = result.updateTime;
        this.durablePosition = position;
        this.eventsRecorded = Math.max(this.eventsRecorded, events);
      } else {
        this.goneResult = result;
        this.leave(
          result.reason === "superseded" ? "owned by a newer socket on another instance" : "finalized elsewhere",
        );
      }
      return result;
    });
  }

  /** The record as this instance last wrote it. */
  private known(): { durablePosition: number; eventsRecorded: number } {
    return { durablePosition: this.durablePosition, eventsRecorded: this.eventsRecorded };
  }

  /** The owning session's ordinal (its events' revisions, shared/lifecycle.ts). */
  get ordinal(): number {
    return this.sessionOrdinal;
  }

  /**
   * Finalizes: publishes the final chunk, then records `finalizing` with the final position
   * and the session's confirmed event count in one conditional write (from then on no
   * socket can resume it, and everything is durable), then publishes the finalize event
   * that has the workers check completion. Resolves with the final position. A second call
   * joins the first.
   *
   * Nothing but the intent is recorded before the final chunk is confirmed: if its publish
   * fails, or this instance dies, the conversation is still in progress and the client
   * re-sends the tail. A finalize the server started records where it cuts first
   * (`intendFinalize`): the client may have streamed on, and the socket it resumes on must
   * cut at the same place, or the chunk published here would conflict with a longer one.
   */
  finalize(request: FinalizeRequest, tags: SessionTags): Promise<number> {
    if (this.finalizing === undefined) {
      this.finalizing = this.runFinalize(request, tags);
      this.finalizing.catch(() => undefined);
    }
    return this.finalizing;
  }

  private async runFinalize(request: FinalizeRequest, tags: SessionTags): Promise<number> {
    this.idle.stop();
    const { finalPosition, reason, finalChunk } = request;
    let begun: ConditionalWrite;
    try {
      begun =
        finalChunk !== undefined && reason !== "client"
          ? await this.recordIntent(request.sessionId, { finalPosition, reason })
          : { ok: true, updateTime: this.updateTime };
      if (begun.ok) {
        if (finalChunk !== undefined) await this.publishFinalChunk(tags, finalChunk, reason !== "client");
        const events = await request.eventsConfirmed();
        begun = await this.recordFinalizing(request, events, finalChunk !== undefined);
      }
    } catch (error) {
      // Nothing recorded: the conversation is still in progress, for a resume (or a sweep) to pick up.
      this.logger.error(
        { err: error, final_position: finalPosition, reason },
        "finalize failed before `finalizing` was recorded: the conversation stays in progress, the client re-sends its tail",
      );
      this.leave("could not finalize");
      throw error;
    }
    if (!begun.ok) {
      this.leave("could not finalize: the conversation moved on");
      if (begun.reason === "superseded")
        throw new ProtocolError("superseded", "a newer socket resumed this conversation");
      throw new ProtocolError("conversation_finalized", "the conversation was already finalized", begun.details);
    }
    this.updateTime = begun.updateTime;
    this.durablePosition = finalPosition;
    try {
      await this.deps.publisher.publishEvent(tags, { type: "finalize", final_position: finalPosition, reason }, 0);
    } catch (error) {
      // Everything is durable; only the workers' completion check waits for the orphan sweeper.
      this.logger.error(
        { err: error, final_position: finalPosition, reason },
        "finalize event not published: the orphan sweeper publishes it again",
      );
    }
    this.logger.info(
      { final_position: finalPosition, reason, session_id: request.sessionId },
      "conversation finalizing: everything is durable",
    );
    this.leave("finalized");
    return finalPosition;
  }

  /**
   * The `finalizing` write. Once a final chunk is published, it is retried on failure: a
   * partial final chunk left behind by a conversation still in progress would conflict
   * with the full chunk of the same index that the resuming client's audio makes, and
   * that chunk, acknowledged, would be dead-lettered.
   */
  private async recordFinalizing(
    request: FinalizeRequest,
    events: number,
    chunkPublished: boolean,
  ): Promise<ConditionalWrite> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.serialize(() =>
          request.sessionId !== this.activeSessionId
            ? Promise.resolve<ConditionalWrite>({ ok: false, reason: "superseded" })
            : this.deps.store.beginFinalize(
                this.id,
                request.sessionId,
                { finalPosition: request.finalPosition, reason: request.reason, eventsConfirmed: events },
                this.known(),
                this.updateTime,
              ),
        );
      } catch (error) {
        if (!chunkPublished || attempt >= FINALIZING_WRITE_ATTEMPTS) throw error;
        this.logger.warn(
          { err: error, attempt, final_position: request.finalPosition },
          "recording `finalizing` failed after the final chunk was published: retrying",
        );
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
      }
    }
  }

  /**
   * Publishes the final chunk. If that fails, the intent (when one was recorded) is
   * withdrawn: the chunk is not out, so a resume may stream on past it. Should the
   * withdrawal fail too, the resume cuts where the intent says, which is safe either way.
   */
  private async publishFinalChunk(tags: SessionTags, chunk: CutChunk, intended: boolean): Promise<void> {
    try {
      await this.deps.publisher.publishChunk(tags, this.format, chunk);
    } catch (error) {
      if (intended) {
        await this.serialize(async () => {
          const withdrawn = await this.deps.store.withdrawFinalIntent(this.id, tags.sessionId, this.updateTime);
          if (withdrawn.ok) this.updateTime = withdrawn.updateTime;
        }).catch((failure: unknown) =>
          this.logger.warn({ err: failure }, "could not withdraw the finalize intent: a resume cuts where it says"),
        );
      }
      throw error;
    }
  }

  /** The `final_intent` write (lifecycle.ts `intendFinalize`), before the partial final chunk is published. */
  private async recordIntent(
    sessionId: string,
    intent: { finalPosition: number; reason: ServerFinalizeReason },
  ): Promise<ConditionalWrite> {
    return await this.serialize(async (): Promise<ConditionalWrite> => {
      if (sessionId !== this.activeSessionId) return { ok: false, reason: "superseded" };
      const written = await this.deps.store.intendFinalize(this.id, sessionId, intent, this.known(), this.updateTime);
      if (written.ok) this.updateTime = written.updateTime;
      return written;
    });
  }

  /** Waits until a finalize in progress is over (successful or not). */
  async finalizeSettled(): Promise<void> {
    await this.finalizing?.catch(() => undefined);
  }

  /** Shutdown: the conversation stays in progress (its client resumes elsewhere); timers stop. */
  release(): void {
    this.idle.stop();
  }

  private leave(why: string): void {
    if (this.gone) return;
    this.gone = true;
    this.idle.stop();
    this.logger.debug({ why }, "conversation leaves this instance");
    this.deps.onGone(this);
  }

  /**
   * The idle timeout with no socket attached (here after a disconnect, or a conversation
   * the orphan sweeper adopted): once the last socket's publishes settled, finalizes at
   * the durable position with reason `idle_timeout`. Resolves with the final position;
   * rejects with a ProtocolError when the conversation moved on (resumed or finalized
   * elsewhere), or with the failure.
   */
  async finalizeDetached(): Promise<number> {
    await this.detachedSettle;
    const tags: SessionTags = {
      environment: this.deps.environment,
      conversationId: this.id,
      userId: this.userId,
      sessionId: this.activeSessionId,
      sessionOrdinal: this.sessionOrdinal,
    };
    // The last socket's events confirmed after its last commit are counted here too.
    const last = this.lastSocket?.sessionId === this.activeSessionId ? this.lastSocket : undefined;
    return await this.finalize(
      {
        sessionId: this.activeSessionId,
        finalPosition: this.durablePosition,
        finalChunk: undefined,
        reason: "idle_timeout",
        eventsConfirmed: async () => last?.eventsConfirmed() ?? 0,
      },
      tags,
    );
  }
}
