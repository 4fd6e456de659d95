/**
 * The ingress's view of a conversation record in the environment's Firestore database:
 * creating it, taking it over for a new socket, advancing its durable position (with the
 * event counts of the lifecycle's barrier), and finalizing it. What each write changes is
 * decided by shared/lifecycle.ts; this module only applies it.
 *
 * Every write to a conversation document is conditional on the document's last update
 * time (optimistic concurrency, no transaction); the per-chunk ones share RPCs with other
 * conversations' (batched-updates.ts), each keeping its own precondition and result. A write that loses a race
 * re-reads the record: if another socket took the conversation over (`active_session`)
 * or it is no longer in progress, the caller hears so and stops; otherwise it retries.
 * This is how two ingress instances serving the same conversation one after the other
 * never move its durable position backwards, and how an instance that lost a conversation
 * to another one learns about it.
 *
 * Fields written beyond `ConversationDoc`: `active_session` (the session id of the socket
 * that owns the conversation now, or of the orphan sweeper that adopted it).
 *
 * The orphan sweeper (orphan-sweeper.ts) lists conversations by status and adopts one
 * only if its record is unchanged since it was listed: an owner that wrote to it since is
 * alive, and keeps it.
 */
import { FieldPath, FieldValue, type Firestore, Timestamp } from "@google-cloud/firestore";
import { z } from "zod";
import type { Codec, SampleRate } from "../../shared/audio-format";
import type { ConversationStatus, IngressFinalizeReason } from "../../shared/conversation-values";
import type { EnvironmentName } from "../../shared/environment";
import { queryOf } from "../../shared/firestore-query";
import {
  COLLECTIONS,
  CONVERTERS,
  type ConversationDoc,
  conversationDocSchema,
  conversationRef,
  type SessionDoc,
  sessionRef,
  tombstoneRef,
} from "../../shared/firestore-schema";
import { GrpcStatus, hasGrpcStatus } from "../../shared/grpc-error";
import * as lifecycle from "../../shared/lifecycle";
import { describeIssue } from "../../shared/schema-issues";
import { BatchedUpdates } from "./batched-updates";
import { ProtocolError } from "./protocol-error";

export type IngressConversationDoc = ConversationDoc & { active_session: string | null };

/**
 * The fields the ingress reads back, validated: the record is shared with other writers.
 * Tolerant where the ingress can answer anyway: any environment string (named in the 4409),
 * and a record without its final position, finalize reason or update time.
 */
const storedConversationSchema = conversationDocSchema
  .pick({
    user_id: true,
    codec: true,
    sample_rate: true,
    chunk_size: true,
    durable_position: true,
    status: true,
    final_position: true,
    finalize_reason: true,
    final_intent: true,
    sessions_opened: true,
    events_recorded: true,
    events_recorded_order: true,
    updated_at: true,
  })
  .partial({ final_position: true, finalize_reason: true, updated_at: true })
  .extend({ environment: z.string(), active_session: z.string().nullable().optional() });
export type StoredConversation = z.infer<typeof storedConversationSchema>;

/** A conversation record as a sweep listed it. */
export interface ListedConversation {
  readonly conversationId: string;
  /** The document's update time when listed: the precondition of adopting it. */
  readonly updateTime: Timestamp;
  /** The record, or why it could not be read. */
  readonly record: { ok: true; value: StoredConversation } | { ok: false; problem: string };
}

/** How a socket came to a conversation. */
export type OpenKind =
  /** No id given: the server minted one. */
  | "new"
  /** A client-chosen `conversation_id` without a resume token: created, or resumed if it is the caller's. */
  | "client_id"
  /** A verified resume token of this environment. */
  | "resume";

export interface OpenIntent {
  readonly kind: OpenKind;
  readonly conversationId: string;
  readonly userId: string;
  readonly codec: Codec;
  readonly sampleRate: SampleRate;
  /** Chunk size for a conversation created now; an existing one keeps its own. */
  readonly chunkSize: number;
}

export interface OpenedConversation {
  readonly conversationId: string;
  readonly userId: string;
  readonly codec: Codec;
  readonly sampleRate: SampleRate;
  readonly chunkSize: number;
  readonly durablePosition: number;
  /** This socket's ordinal in the conversation (1 for the first). */
  readonly sessionOrdinal: number;
  /** Where a finalize that an earlier instance started cuts the stream (lifecycle.ts `intendFinalize`). */
  readonly finalIntent?: lifecycle.FinalIntent;
  readonly created: boolean;
  /** The record's update time after this open: the precondition of the next write. */
  readonly updateTime: Timestamp;
}

export type ConditionalWrite =
  | { ok: true; updateTime: Timestamp }
  /** Another socket owns the conversation now. */
  | { ok: false; reason: "superseded" }
  /** Finalizing or finalized (by another socket or instance); `details` are the 4410 error's. */
  | { ok: false; reason: "not_in_progress"; details: FinalizedDetails };

/** The `conversation_finalized` error's details (PROTOCOL section 2). */
export type FinalizedDetails = {
  final_position?: number;
  durable_position?: number;
  finalize_reason?: lifecycle.FinalizeReason;
  /** Per socket (session id), how many of its text messages the record counts as published. */
  events_recorded: Readonly<Record<string, number>>;
};

export function finalizedDetails(stored: StoredConversation): FinalizedDetails {
  return {
    ...(stored.final_position !== null && stored.final_position !== undefined
      ? { final_position: stored.final_position }
      : {}),
    durable_position: stored.durable_position,
    ...(stored.finalize_reason ? { finalize_reason: stored.finalize_reason } : {}),
    events_recorded: stored.events_recorded ?? {},
  };
}

/** The record as this instance last wrote it: what a conditional write may assume. */
function assumed(
  sessionId: string,
  known: { durablePosition: number; eventsRecorded: number },
): Pick<StoredConversation, "status" | "durable_position" | "events_recorded"> {
  return {
    status: "in_progress",
    durable_position: known.durablePosition,
    events_recorded: { [sessionId]: known.eventsRecorded },
  };
}

const MAX_ATTEMPTS = 6;

export interface ConversationStoreHooks {
  /** Runs before a conversation is created (the per-minute limit); throws to refuse it. */
  readonly beforeCreate?: (intent: OpenIntent) => Promise<void>;
}

export class ConversationStore {
  /** The per-chunk writes (durable positions) of all conversations, sharing RPCs. */
  private readonly updates: BatchedUpdates;

  constructor(
    private readonly db: Firestore,
    private readonly environment: EnvironmentName,
    private readonly now: () => Timestamp = () => Timestamp.now(),
    private readonly hooks: ConversationStoreHooks = {},
  ) {
    this.updates = new BatchedUpdates(db);
  }

  /**
   * Checks that `intent` may use an existing record; throws the protocol's answer if not.
   * Order: another environment's record (4409), another user's (4403), over (4410), format (4415).
   */
  checkExisting(stored: StoredConversation, intent: OpenIntent): void {
    if (stored.environment !== this.environment) {
      throw new ProtocolError(
        "wrong_environment",
        `conversation ${intent.conversationId} belongs to environment ${stored.environment}`,
        {
          environment: this.environment,
          expected_environment: stored.environment,
        },
      );
    }
    if (stored.user_id !== intent.userId) {
      throw new ProtocolError("forbidden", `conversation ${intent.conversationId} belongs to another user`);
    }
    if (stored.status !== "in_progress") {
      throw new ProtocolError(
        "conversation_finalized",
        `conversation ${intent.conversationId} is ${stored.status}: start a new conversation`,
        finalizedDetails(stored),
      );
    }
    if (stored.codec !== intent.codec || stored.sample_rate !== intent.sampleRate) {
      throw new ProtocolError(
        "bad_audio",
        `conversation ${intent.conversationId} was started as ${stored.codec} at ${stored.sample_rate} Hz; reconnect with the same codec and sample_rate`,
      );
    }
  }

  /** Reads and checks the record an open would use (before taking a socket away from it). */
  async inspect(intent: OpenIntent): Promise<void> {
    if (intent.kind === "new") return;
    const snapshot = await conversationRef(this.db, intent.conversationId).get();
    if (!snapshot.exists) {
      await this.refuseIfDeleted(intent.conversationId);
      if (intent.kind === "resume") throw this.unknownConversation(intent.conversationId);
      return;
    }
    this.checkExisting(this.parse(intent.conversationId, snapshot.data()), intent);
  }

  /** Creates or takes over the conversation for socket `sessionId`, and records the session. */
  async open(intent: OpenIntent, sessionId: string): Promise<OpenedConversation> {
    const ref = conversationRef(this.db, intent.conversationId);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt += 1) {
      const snapshot = intent.kind === "new" ? undefined : await ref.get();
      if (snapshot === undefined || !snapshot.exists) {
        // A deleted conversation's id is never used again, not even by the client that chose it.
        if (intent.kind !== "new") await this.refuseIfDeleted(intent.conversationId);
        if (intent.kind === "resume") throw this.unknownConversation(intent.conversationId);
        try {
          return await this.create(intent, sessionId);
        } catch (error) {
          // A client-chosen id created concurrently by another socket: read it and resume.
          if (hasGrpcStatus(error, GrpcStatus.ALREADY_EXISTS) && intent.kind === "client_id") continue;
          throw error;
        }
      }
      const stored = this.parse(intent.conversationId, snapshot.data());
      this.checkExisting(stored, intent);
      const now = this.now();
      const batch = this.db.batch();
      const opened = lifecycle.openSession(stored, sessionId);
      const evictedFields = Object.fromEntries(
        opened.evicted.map(({ sessionId: old }) => [`events_recorded.${old}`, FieldValue.delete()]),
      );
      batch.update(
        ref,
        { active_session: sessionId, updated_at: now, ...opened.fields, ...evictedFields },
        { lastUpdateTime: snapshot.updateTime },
      );
      batch.create(
        sessionRef(this.db, intent.conversationId, sessionId),
        this.sessionDoc(sessionId, stored.durable_position, now),
      );
      // The counts leaving the record move to their sessions' documents, in the same commit.
      for (const { sessionId: old, count } of opened.evicted) {
        batch.set(sessionRef(this.db, intent.conversationId, old), { events_recorded: count }, { merge: true });
      }
      try {
        const [result] = await batch.commit();
        if (result === undefined) throw new Error("Firestore returned no write result");
        return this.takenOver(intent.conversationId, stored, opened.fields.sessions_opened, result.writeTime);
      } catch (error) {
        if (hasGrpcStatus(error, GrpcStatus.FAILED_PRECONDITION)) continue; // changed under us: read again
        throw error;
      }
    }
    throw new Error(`conversation ${intent.conversationId} kept changing while a socket tried to open it`);
  }

  private takenOver(
    conversationId: string,
    stored: StoredConversation,
    sessionOrdinal: number,
    updateTime: Timestamp,
  ): OpenedConversation {
    return {
      conversationId,
      userId: stored.user_id,
      codec: stored.codec,
      sampleRate: stored.sample_rate,
      chunkSize: stored.chunk_size,
      durablePosition: stored.durable_position,
      sessionOrdinal,
      ...(stored.final_intent ? { finalIntent: stored.final_intent } : {}),
      created: false,
      updateTime,
    };
  }

  /**
   * One page of this environment's conversations in `status`, in document id order after
   * `startAfterId` (an equality filter: no composite index). A malformed record is listed
   * with its problem rather than failing the page.
   */
  async listByStatus(
    status: Exclude<ConversationStatus, "finalized">,
    startAfterId: string | undefined,
    limit: number,
  ): Promise<ListedConversation[]> {
    let query = queryOf(this.db.collection(COLLECTIONS.conversations))
      .filter("status", "==", status)
      .order(FieldPath.documentId())
      .limit(limit);
    if (startAfterId !== undefined) query = query.startAfter(startAfterId);
    const snapshot = await query.get();
    return snapshot.docs.map((doc): ListedConversation => {
      const parsed = storedConversationSchema.safeParse(doc.data());
      return {
        conversationId: doc.id,
        updateTime: doc.updateTime,
        record: parsed.success ? { ok: true, value: parsed.data } : { ok: false, problem: describeIssue(parsed.error) },
      };
    });
  }

  /**
   * Takes over a listed in-progress conversation for `sessionId` (as a resume would: it
   * becomes `active_session`), only if its record did not change since it was listed.
   * Undefined when it did: its owner (or a resuming client) is alive.
   */
  async adopt(listed: ListedConversation, sessionId: string): Promise<OpenedConversation | undefined> {
    if (!listed.record.ok) throw new Error(`conversation record ${listed.conversationId} is malformed`);
    const stored = listed.record.value;
    if (stored.environment !== this.environment || stored.status !== "in_progress") return undefined;
    try {
      // The sweeper's session sends no text: it does not join the recent sockets.
      const opened = lifecycle.openSession(stored);
      const result = await conversationRef(this.db, listed.conversationId).update(
        { active_session: sessionId, updated_at: this.now(), ...opened.fields },
        { lastUpdateTime: listed.updateTime },
      );
      return this.takenOver(listed.conversationId, stored, opened.fields.sessions_opened, result.writeTime);
    } catch (error) {
      if (hasGrpcStatus(error, GrpcStatus.FAILED_PRECONDITION)) return undefined;
      throw error;
    }
  }

  /**
   * Claims a listed conversation for one re-publish of its finalize event: moves
   * `updated_at` if the record did not change since it was listed. False when it did
   * (another instance claimed it, or the events worker moved it on).
   */
  async claimStale(listed: ListedConversation): Promise<boolean> {
    try {
      await conversationRef(this.db, listed.conversationId).update(
        { updated_at: this.now() },
        { lastUpdateTime: listed.updateTime },
      );
      return true;
    } catch (error) {
      if (hasGrpcStatus(error, GrpcStatus.FAILED_PRECONDITION)) return false;
      throw error;
    }
  }

  private async create(intent: OpenIntent, sessionId: string): Promise<OpenedConversation> {
    await this.hooks.beforeCreate?.(intent);
    const now = this.now();
    const doc: IngressConversationDoc = {
      id: intent.conversationId,
      environment: this.environment,
      user_id: intent.userId,
      codec: intent.codec,
      sample_rate: intent.sampleRate,
      channels: 1,
      chunk_size: intent.chunkSize,
      durable_position: 0,
      status: "in_progress",
      final_position: null,
      finalize_reason: null,
      created_at: now,
      updated_at: now,
      finalized_at: null,
      active_session: sessionId,
      sessions_opened: 1,
      events_recorded: {},
      events_recorded_order: [sessionId],
      extraction_generation: 0,
      extraction_requested_generation: 0,
    };
    const batch = this.db.batch();
    batch.create(conversationRef(this.db, intent.conversationId), doc);
    batch.create(sessionRef(this.db, intent.conversationId, sessionId), this.sessionDoc(sessionId, 0, now));
    const [result] = await batch.commit();
    if (result === undefined) throw new Error("Firestore returned no write result");
    return {
      conversationId: intent.conversationId,
      userId: intent.userId,
      codec: intent.codec,
      sampleRate: intent.sampleRate,
      chunkSize: intent.chunkSize,
      durablePosition: 0,
      sessionOrdinal: 1,
      created: true,
      updateTime: result.writeTime,
    };
  }

  /**
   * Moves `durable_position` up to `position`, and records how many events socket
   * `sessionId` had confirmed, while that socket owns the conversation. `known` is the record
   * as this instance last wrote it (the precondition `updateTime` guarantees it unchanged).
   */
  async commitDurable(
    conversationId: string,
    sessionId: string,
    commit: { position: number; eventsConfirmed: number },
    known: { durablePosition: number; eventsRecorded: number },
    updateTime: Timestamp,
  ): Promise<ConditionalWrite> {
    return await this.conditionalUpdate(conversationId, sessionId, updateTime, (stored) => {
      const fields = lifecycle.commitDurable(stored ?? assumed(sessionId, known), { ...commit, sessionId });
      if (fields === undefined || "refused" in fields) return undefined;
      return { ...fields, updated_at: this.now() };
    });
  }

  /**
   * Finalizes at `finalPosition` (no socket may resume it from now on), if `sessionId` still
   * owns it and it is in progress. The caller has the final chunk and every event the socket
   * received confirmed by Pub/Sub first, so this one write makes all of it durable.
   */
  async beginFinalize(
    conversationId: string,
    sessionId: string,
    request: { finalPosition: number; reason: IngressFinalizeReason; eventsConfirmed: number },
    known: { durablePosition: number; eventsRecorded: number },
    updateTime: Timestamp,
  ): Promise<ConditionalWrite> {
    return await this.conditionalUpdate(conversationId, sessionId, updateTime, (stored) => {
      const fields = lifecycle.beginFinalize(stored ?? assumed(sessionId, known), { ...request, sessionId });
      if ("refused" in fields) return undefined;
      return { ...fields, updated_at: this.now() };
    });
  }

  /**
   * Records where a server-started finalize will cut the stream, before its partial final
   * chunk is published (lifecycle.ts `intendFinalize`), if `sessionId` still owns the
   * conversation and it is in progress.
   */
  async intendFinalize(
    conversationId: string,
    sessionId: string,
    intent: { finalPosition: number; reason: lifecycle.ServerFinalizeReason },
    known: { durablePosition: number; eventsRecorded: number },
    updateTime: Timestamp,
  ): Promise<ConditionalWrite> {
    return await this.conditionalUpdate(conversationId, sessionId, updateTime, (stored) => {
      const fields = lifecycle.intendFinalize(stored ?? assumed(sessionId, known), intent);
      if (fields === undefined || "refused" in fields) return undefined;
      return { ...fields, updated_at: this.now() };
    });
  }

  /** Withdraws the intent: its partial final chunk was not published (lifecycle.ts `withdrawFinalIntent`). */
  async withdrawFinalIntent(
    conversationId: string,
    sessionId: string,
    updateTime: Timestamp,
  ): Promise<ConditionalWrite> {
    return await this.conditionalUpdate(conversationId, sessionId, updateTime, (stored) => {
      // Until a lost race re-reads it, the record is as this instance wrote it: with the intent.
      const fields = stored === undefined ? { final_intent: null } : lifecycle.withdrawFinalIntent(stored);
      if (fields === undefined || "refused" in fields) return undefined;
      return { ...fields, updated_at: this.now() };
    });
  }

  /** Opens the database channel before the first socket needs it (one read of a missing record). */
  async warmUp(): Promise<void> {
    await conversationRef(this.db, "warm-up-probe").get();
  }

  /**
   * Calls `lost` once `sessionId` no longer owns the conversation (another socket resumed
   * it, on any instance); returns the unsubscribe. A warned socket (drain.ts) learns this
   * way that its client moved, without writing.
   */
  watchOwner(conversationId: string, sessionId: string, lost: () => void, failed: (error: Error) => void): () => void {
    let told = false;
    return conversationRef(this.db, conversationId).onSnapshot(
      (snapshot) => {
        const owner = snapshot.get("active_session") as unknown;
        if (told || !snapshot.exists || owner === sessionId) return;
        told = true;
        lost();
      },
      (error) => failed(error),
    );
  }

  /**
   * Counts text socket `sessionId` received after its finalize froze the barrier
   * (lifecycle.ts `lateEvents`), whatever the status moved to since: read, then write
   * conditionally on that read, again on a lost race.
   */
  async recordLateEvents(conversationId: string, sessionId: string, eventsConfirmed: number): Promise<void> {
    const ref = conversationRef(this.db, conversationId);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt += 1) {
      const snapshot = await ref.get();
      if (!snapshot.exists || snapshot.updateTime === undefined) throw this.unknownConversation(conversationId);
      const stored = this.parse(conversationId, snapshot.data());
      const fields = lifecycle.lateEvents(stored, { sessionId, eventsConfirmed });
      if (fields === undefined) return;
      if ("refused" in fields) throw new Error(`conversation ${conversationId} is ${fields.status}, not finalizing`);
      try {
        await ref.update({ ...fields, updated_at: this.now() }, { lastUpdateTime: snapshot.updateTime });
        return;
      } catch (error) {
        if (!hasGrpcStatus(error, GrpcStatus.FAILED_PRECONDITION)) throw error;
      }
    }
    throw new Error(`conversation ${conversationId} kept changing while the ingress counted late text`);
  }

  /** Records how a socket ended, and the `goaway` it was sent, if any (in the same write). */
  async endSession(conversationId: string, sessionId: string, closeCode: number, goaway?: string): Promise<void> {
    await sessionRef(this.db, conversationId, sessionId).update({
      ended_at: this.now(),
      close_code: closeCode,
      ...(goaway === undefined ? {} : { goaway }),
    });
  }

  /**
   * Writes `fields(current)` conditionally on `updateTime`; on a lost race re-reads the
   * record and retries while `sessionId` owns it and it is in progress. `fields` returning
   * undefined means there is nothing to write.
   */
  private async conditionalUpdate(
    conversationId: string,
    sessionId: string,
    updateTime: Timestamp,
    fields: (current: StoredConversation | undefined) => Record<string, unknown> | undefined,
  ): Promise<ConditionalWrite> {
    const ref = conversationRef(this.db, conversationId);
    let precondition = updateTime;
    let current: StoredConversation | undefined;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt += 1) {
      const data = fields(current);
      if (data === undefined) return { ok: true, updateTime: precondition };
      try {
        const result = await this.updates.update(ref, data, { lastUpdateTime: precondition });
        return { ok: true, updateTime: result.writeTime };
      } catch (error) {
        if (!hasGrpcStatus(error, GrpcStatus.FAILED_PRECONDITION) && !hasGrpcStatus(error, GrpcStatus.NOT_FOUND)) {
          throw error;
        }
      }
      const snapshot = await ref.get();
      if (!snapshot.exists || snapshot.updateTime === undefined) {
        const deleted = await this.deletedDetails(conversationId);
        if (deleted !== undefined) return { ok: false, reason: "not_in_progress", details: deleted };
        throw this.unknownConversation(conversationId);
      }
      current = this.parse(conversationId, snapshot.data());
      if (current.status !== "in_progress") {
        return { ok: false, reason: "not_in_progress", details: finalizedDetails(current) };
      }
      if (current.active_session !== sessionId) return { ok: false, reason: "superseded" };
      precondition = snapshot.updateTime;
    }
    throw new Error(`conversation ${conversationId} kept changing while the ingress wrote to it`);
  }

  private sessionDoc(sessionId: string, startPosition: number, now: Timestamp): SessionDoc {
    return { session_id: sessionId, start_position: startPosition, started_at: now, ended_at: null, close_code: null };
  }

  private parse(conversationId: string, data: unknown): StoredConversation {
    const parsed = storedConversationSchema.safeParse(data);
    if (!parsed.success) {
      throw new Error(`conversation record ${conversationId} is malformed: ${describeIssue(parsed.error)}`);
    }
    return parsed.data;
  }

  /** The 4410 details of a deleted (purged) conversation, from its tombstone; undefined if it was never deleted. */
  private async deletedDetails(conversationId: string): Promise<FinalizedDetails | undefined> {
    const tombstone = (await tombstoneRef(this.db, conversationId).withConverter(CONVERTERS.tombstone).get()).data();
    if (tombstone === undefined) return undefined;
    return {
      ...(tombstone.final_position !== null ? { final_position: tombstone.final_position } : {}),
      durable_position: tombstone.durable_position,
      finalize_reason: "deleted",
      events_recorded: {},
    };
  }

  private async refuseIfDeleted(conversationId: string): Promise<void> {
    const details = await this.deletedDetails(conversationId);
    if (details === undefined) return;
    throw new ProtocolError(
      "conversation_finalized",
      `conversation ${conversationId} was deleted: start a new conversation`,
      details,
    );
  }

  private unknownConversation(conversationId: string): ProtocolError {
    return new ProtocolError(
      "bad_request",
      `the resume token names conversation ${conversationId}, which this environment has no record of; start a new conversation`,
    );
  }
}
