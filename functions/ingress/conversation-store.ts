/**
 * The ingress's view of a conversation record in the environment's Firestore database:
 * opening it for a socket (conversation-open.ts: create, or take over), advancing its
 * durable position (with the event counts of the lifecycle's barrier), finalizing it, and
 * the orphan sweeper's adoption. What each write changes is decided by shared/lifecycle.ts;
 * this module only applies it. How the record reads back is stored-conversation.ts's.
 *
 * Every write to a conversation document is conditional on the document's last update
 * time (optimistic concurrency, no transaction: ../conditional-write.ts); the per-chunk ones
 * share RPCs with other conversations' (batched-updates.ts), each keeping its own
 * precondition and result. A write that loses a race re-reads the record: if another
 * socket took the conversation over (`active_session`: the session id of the socket that
 * owns it, or of the sweeper that adopted it) or it is no longer in progress, the caller
 * hears so and stops; otherwise it retries. This is how two ingress instances serving the
 * same conversation one after the other never move its durable position backwards, and how
 * an instance that lost a conversation to another one learns about it.
 *
 * The orphan sweeper (orphan-sweeper.ts) lists conversations by status and adopts one
 * only if its record is unchanged since it was listed: an owner that wrote to it since is
 * alive, and keeps it.
 */
import { FieldPath, type Firestore, Timestamp } from "@google-cloud/firestore";
import type { ConversationStatus, IngressFinalizeReason } from "../../shared/conversation-values";
import type { EnvironmentName } from "../../shared/environment";
import { queryOf } from "../../shared/firestore-query";
import { COLLECTIONS, conversationRef, sessionRef } from "../../shared/firestore-schema";
import * as lifecycle from "../../shared/lifecycle";
import { ifUnchanged, untilUnchanged } from "../conditional-write";
import { BatchedUpdates } from "./batched-updates";
import {
  type ConversationStoreHooks,
  checkExisting,
  inspect,
  type OpenedConversation,
  type OpenIntent,
  open,
  type RecordContext,
  takenOver,
} from "./conversation-open";
import {
  deletedDetails,
  type FinalizedDetails,
  finalizedDetails,
  type ListedConversation,
  readStored,
  type StoredConversation,
  tryParseStored,
  unknownConversation,
} from "./stored-conversation";

export type { ConversationStoreHooks, OpenedConversation, OpenIntent, OpenKind } from "./conversation-open";
export type {
  FinalizedDetails,
  ListedConversation,
  StoredConversation,
} from "./stored-conversation";
export { finalizedDetails } from "./stored-conversation";

export type ConditionalWrite =
  | { ok: true; updateTime: Timestamp }
  /** Another socket owns the conversation now. */
  | { ok: false; reason: "superseded" }
  /** Finalizing or finalized (by another socket or instance); `details` are the 4410 error's. */
  | { ok: false; reason: "not_in_progress"; details: FinalizedDetails };

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

export class ConversationStore {
  /** The per-chunk writes (durable positions) of all conversations, sharing RPCs. */
  private readonly updates: BatchedUpdates;
  private readonly ctx: RecordContext;

  constructor(
    private readonly db: Firestore,
    environment: EnvironmentName,
    private readonly now: () => Timestamp = () => Timestamp.now(),
    hooks: ConversationStoreHooks = {},
  ) {
    this.updates = new BatchedUpdates(db);
    this.ctx = { db, environment, now, hooks };
  }

  /**
   * Checks that `intent` may use an existing record; throws the protocol's answer if not.
   * Order: another environment's record (4409), another user's (4403), over (4410), format (4415).
   */
  checkExisting(stored: StoredConversation, intent: OpenIntent): void {
    checkExisting(this.ctx, stored, intent);
  }

  /** Reads and checks the record an open would use (before taking a socket away from it). */
  async inspect(intent: OpenIntent): Promise<void> {
    await inspect(this.ctx, intent);
  }

  /** Creates or takes over the conversation for socket `sessionId`, and records the session. */
  async open(intent: OpenIntent, sessionId: string): Promise<OpenedConversation> {
    return await open(this.ctx, intent, sessionId);
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
    return snapshot.docs.map(
      (doc): ListedConversation => ({
        conversationId: doc.id,
        updateTime: doc.updateTime,
        record: tryParseStored(doc.data()),
      }),
    );
  }

  /**
   * Takes over a listed in-progress conversation for `sessionId` (as a resume would: it
   * becomes `active_session`), only if its record did not change since it was listed.
   * Undefined when it did: its owner (or a resuming client) is alive.
   */
  async adopt(listed: ListedConversation, sessionId: string): Promise<OpenedConversation | undefined> {
    if (!listed.record.ok) throw new Error(`conversation record ${listed.conversationId} is malformed`);
    const stored = listed.record.value;
    if (stored.environment !== this.ctx.environment || stored.status !== "in_progress") return undefined;
    // The sweeper's session sends no text: it does not join the recent sockets.
    const opened = lifecycle.openSession(stored);
    const result = await ifUnchanged(() =>
      conversationRef(this.db, listed.conversationId).update(
        { active_session: sessionId, updated_at: this.now(), ...opened.fields },
        { lastUpdateTime: listed.updateTime },
      ),
    );
    return result && takenOver(listed.conversationId, stored, opened.fields.sessions_opened, result.writeTime);
  }

  /**
   * Claims a listed conversation for one re-publish of its finalize event: moves
   * `updated_at` if the record did not change since it was listed. False when it did
   * (another instance claimed it, or the events worker moved it on).
   */
  async claimStale(listed: ListedConversation): Promise<boolean> {
    const result = await ifUnchanged(() =>
      conversationRef(this.db, listed.conversationId).update(
        { updated_at: this.now() },
        { lastUpdateTime: listed.updateTime },
      ),
    );
    return result !== undefined;
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

  /**
   * Opens the database channel before the first socket needs it (one read of a missing
   * record), and the per-chunk writes' own.
   */
  async warmUp(): Promise<void> {
    await Promise.all([conversationRef(this.db, "warm-up-probe").get(), this.updates.warmUp()]);
  }

  /** Closes the per-chunk writes' connection (the Firestore client is the caller's). */
  close(): void {
    this.updates.close();
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
    await untilUnchanged(`conversation ${conversationId}, counting late text,`, async () => {
      const read = await readStored(this.db, conversationId);
      if (read === undefined) throw unknownConversation(conversationId);
      const fields = lifecycle.lateEvents(read.data, { sessionId, eventsConfirmed });
      if (fields === undefined) return;
      if ("refused" in fields) throw new Error(`conversation ${conversationId} is ${fields.status}, not finalizing`);
      await ref.update({ ...fields, updated_at: this.now() }, { lastUpdateTime: read.updateTime });
    });
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
   * undefined means there is nothing to write. The first round writes without reading: the
   * record is as this instance last wrote it, unless the precondition says otherwise.
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
    let read = false;
    return await untilUnchanged(`conversation ${conversationId}, written by the ingress,`, async () => {
      if (read) {
        const read = await readStored(this.db, conversationId);
        if (read === undefined) {
          const deleted = await deletedDetails(this.db, conversationId);
          if (deleted !== undefined) return { ok: false, reason: "not_in_progress", details: deleted };
          throw unknownConversation(conversationId);
        }
        current = read.data;
        if (current.status !== "in_progress") {
          return { ok: false, reason: "not_in_progress", details: finalizedDetails(current) };
        }
        if (current.active_session !== sessionId) return { ok: false, reason: "superseded" };
        precondition = read.updateTime;
      }
      read = true;
      const data = fields(current);
      if (data === undefined) return { ok: true, updateTime: precondition };
      const result = await this.updates.update(ref, data, { lastUpdateTime: precondition });
      return { ok: true, updateTime: result.writeTime };
    });
  }
}
