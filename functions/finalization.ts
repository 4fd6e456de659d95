/**
 * The workers' side of the conversation lifecycle (shared/lifecycle.ts): the completion
 * check that flips `finalizing` → `finalized`, the extraction generations, and the
 * extraction requests. Each step reads the conversation document, applies the pure
 * transition and writes the result on the condition that the document did not change
 * since the read (./conditional-write.ts), else reads it again. No transaction: the ingress
 * writes this record with every chunk, and a transaction's read lock, held by a worker
 * whose connection dropped, would stall the ingress (and the other workers) until the
 * database gave it up.
 *
 * `completeIfReady` runs after the persist worker stores a chunk of a conversation it reads
 * (after the write) as finalizing, after the events worker is done with an event, and for a finalize trigger
 * (redelivered while chunks are missing), so whichever finishes last completes the
 * conversation. It is idempotent and safe to run concurrently: the flip
 * happens once, and a request that was not published (a crash after the flip, a failed
 * publish) is published by the next run that finds the gap.
 */
import { FieldPath, FieldValue, type Firestore } from "@google-cloud/firestore";
import type { Topic } from "@google-cloud/pubsub";
import { chunksUpTo } from "../shared/audio-format";
import { queryOf } from "../shared/firestore-query";
import {
  COLLECTIONS,
  CONVERTERS,
  type ConversationDoc,
  conversationRef,
  type DocumentRead,
  fieldsOf,
  parseDocument,
  readConversation,
  sessionDocSchema,
} from "../shared/firestore-schema";
import * as lifecycle from "../shared/lifecycle";
import type { Logger } from "../shared/logger";
import { type ExtractionAttributeStrings, SCHEMA_VERSION } from "../shared/messages";
import { chunkCompleteness, persistedChunks } from "./chunk-records";
import { untilUnchanged } from "./conditional-write";
import { createNotifier } from "./notifications";
import type { EnvironmentRuntime } from "./runtime";

/**
 * Transient: a finalize trigger found chunks missing; it is redelivered to check again. (A
 * chunk stored after the check checks for itself: persist-audio reads after its write.)
 */
export class ChunksPendingError extends Error {
  override name = "ChunksPendingError";
  constructor(conversationId: string) {
    super(`conversation ${conversationId} is finalizing with chunks not stored yet; its finalize is checked again`);
  }
}

/** Transient: a generation's request is not recorded yet; the message is redelivered to check again. */
export class RequestPendingError extends Error {
  override name = "RequestPendingError";
}

export type FinalizationOutcome =
  /** No conversation document (yet): nothing to finalize. */
  | "no_conversation"
  | "in_progress"
  | "waiting_for_chunks"
  | "waiting_for_events"
  /** This call flipped it and requested extraction. */
  | "finalized"
  | "already_finalized";

/** A caller's read of the conversation (`read` undefined: there was none), to check instead of reading again. */
export interface ConversationAsRead {
  readonly read: DocumentRead<ConversationDoc> | undefined;
}

export interface Finalizer {
  /** `given`: a read of the conversation made after every write of the caller's that the check must follow. */
  completeIfReady(conversationId: string, logger: Logger, given?: ConversationAsRead): Promise<FinalizationOutcome>;
  /**
   * Speaker data of the conversation was written at `writtenAtMs` (already committed): after
   * the flip, unless a generation started since, a newer extraction generation is started
   * and requested. Call it after the write (before or after the event's marker: see `afterEvent`).
   */
  speakerDataChanged(conversationId: string, writtenAtMs: number, logger: Logger): Promise<void>;
  /**
   * The end of an event, from one read of the conversation made after its writes (its data
   * at `writtenAtMs`, undefined if none, then its applied marker): the newer generation
   * `speakerDataChanged` would start, or else the completion check, on that read. Marked
   * first is as safe: a flip the marker lets happen starts its generation after the write.
   */
  afterEvent(
    conversationId: string,
    given: ConversationAsRead,
    writtenAtMs: number | undefined,
    logger: Logger,
  ): Promise<FinalizationOutcome>;
}

/** The one field the listing selects. */
const evictedCountSchema = sessionDocSchema.pick({ events_recorded: true }).required();

/** The event counts of sockets that left the record's `events_recorded` (shared/lifecycle.ts `openSession`). */
async function evictedEventCounts(
  db: Firestore,
  conversationId: string,
): Promise<Array<{ sessionId: string; count: number }>> {
  const snapshot = await queryOf(conversationRef(db, conversationId).collection(COLLECTIONS.sessions))
    .filter("events_recorded", ">", 0)
    .select(...fieldsOf(evictedCountSchema))
    .get();
  return snapshot.docs.map((doc) => ({
    sessionId: doc.id,
    count: parseDocument(evictedCountSchema, doc.ref.path, doc.data()).events_recorded,
  }));
}

/**
 * How many recorded events have no applied marker yet, and which were rejected for good:
 * per socket, a count of its markers 1..n (their ids sort by seq, `appliedEventId`), and one
 * query for rejected markers, which are rare. A check reads O(sockets), not O(events).
 */
async function eventProgress(
  db: Firestore,
  conversationId: string,
  recorded: Readonly<Record<string, number>>,
): Promise<{ missing: number; rejected: lifecycle.RejectedEvent[] }> {
  const markers = conversationRef(db, conversationId).collection(COLLECTIONS.appliedEvents);
  const sessions = Object.entries(recorded).filter(([, count]) => count > 0);
  const [counts, rejectedSnapshot] = await Promise.all([
    Promise.all(
      sessions.map(async ([sessionId, count]) => {
        const applied = await queryOf(markers)
          .filter(FieldPath.documentId(), ">=", lifecycle.appliedEventId({ sessionId, seq: 1 }))
          .filter(FieldPath.documentId(), "<=", lifecycle.appliedEventId({ sessionId, seq: count }))
          .count();
        return count - applied;
      }),
    ),
    sessions.length === 0
      ? undefined
      : queryOf(markers.withConverter(CONVERTERS.appliedEvent)).filter("outcome", "==", "rejected").get(),
  ]);
  const rejected: lifecycle.RejectedEvent[] = [];
  for (const doc of rejectedSnapshot?.docs ?? []) {
    const marker = doc.data();
    if (marker.seq > (recorded[marker.session_id] ?? 0)) continue; // not one the barrier waits for
    rejected.push({
      session_id: marker.session_id,
      seq: marker.seq,
      reason: marker.reason ?? "rejected",
      segment_ids: marker.segment_ids ?? [],
    });
  }
  return { missing: counts.reduce((sum, n) => sum + n, 0), rejected };
}

export function createFinalizer(runtime: EnvironmentRuntime): Finalizer {
  const db = runtime.clients.firestore;
  const extractionTopic: Topic = runtime.clients.pubsub.topic(runtime.resources.topics.extraction);
  const environment = runtime.resources.environment;
  const notifier = createNotifier(runtime);

  const publishRequest = async (
    conversationId: string,
    generation: number,
    reason: ExtractionAttributeStrings["reason"],
  ): Promise<string> => {
    const attributes: ExtractionAttributeStrings = {
      schema_version: SCHEMA_VERSION,
      environment,
      conversation_id: conversationId,
      reason,
      generation: String(generation),
    };
    return await extractionTopic.publishMessage({
      data: Buffer.from(JSON.stringify({ conversation_id: conversationId })),
      attributes,
    });
  };

  /**
   * Publishes the request for `generation` (undefined: nothing to do), then records it as
   * requested. A request after the flip (`finalized`) first notifies app backends: a lost
   * notification is then published again with the lost request (same event id). Recording is best effort: if it fails, the request is out anyway, and a later
   * check publishes a duplicate only after the grace (shared/lifecycle.ts).
   */
  const request = async (
    conversationId: string,
    generation: number | undefined,
    reason: ExtractionAttributeStrings["reason"],
    logger: Logger,
    userId: string,
  ): Promise<void> => {
    if (generation === undefined) return;
    if (reason === "finalized") {
      await notifier.publish(
        "tether.conversation.finalized",
        { conversation_id: conversationId, user_id: userId },
        logger,
      );
    }
    const requestId = await publishRequest(conversationId, generation, reason);
    logger.info(
      { extraction_generation: generation, extraction_request_id: requestId },
      "speaker extraction requested",
    );
    const ref = conversationRef(db, conversationId);
    try {
      await untilUnchanged(`the extraction request of conversation ${conversationId}`, async () => {
        const read = await readConversation(db, conversationId);
        const update = read && lifecycle.extractionRequested(read.data, generation);
        if (update) await ref.update(update, { lastUpdateTime: read.updateTime });
      });
    } catch (error) {
      logger.warn(
        { err: error, extraction_generation: generation },
        "extraction requested, but not recorded as requested; it may be requested again after the grace",
      );
    }
  };

  /**
   * On a finalized conversation: requests a generation whose request was lost, and keeps
   * the message (RequestPendingError, redelivered) while one is unrequested within the
   * grace, so a request is never lost with the message that carried it.
   */
  const ensureRequested = async (
    conversationId: string,
    conversation: ConversationDoc,
    logger: Logger,
  ): Promise<"already_finalized"> => {
    const lost = lifecycle.lostRequestGeneration(conversation, Date.now());
    if (lost !== undefined)
      logger.warn({ extraction_generation: lost }, "extraction request was lost; requesting again");
    await request(conversationId, lost, "finalized", logger, conversation.user_id);
    const unrequested = lifecycle.unrequestedGeneration(conversation);
    if (lost === undefined && unrequested !== undefined) {
      // Its request is being published by the worker that started it; this message stays
      // (redelivered) until the request is recorded or the grace ends, so it is never lost.
      throw new RequestPendingError(
        `extraction generation ${unrequested} of conversation ${conversationId} is not recorded as requested yet`,
      );
    }
    return "already_finalized";
  };

  /**
   * A transaction that finds the generation already started may be this worker's own retry
   * of a commit that was applied but not acknowledged (the connection dropped): the
   * request then falls to whoever finds the gap, i.e. to this message as well.
   */
  const afterRefusedStart = async (conversationId: string, logger: Logger): Promise<"already_finalized"> => {
    const current = (await readConversation(db, conversationId))?.data;
    if (!current) return "already_finalized";
    return await ensureRequested(conversationId, current, logger);
  };

  const completeIfReady: Finalizer["completeIfReady"] = async (conversationId, logger, given) => {
    const ref = conversationRef(db, conversationId);
    const conversation = (given === undefined ? await readConversation(db, conversationId) : given.read)?.data;
    if (!conversation) return "no_conversation";
    if (conversation.status === "finalized") return await ensureRequested(conversationId, conversation, logger);
    if (conversation.status === "in_progress") return "in_progress";
    const finalPosition = conversation.final_position;
    if (finalPosition === null) {
      logger.error({ status: conversation.status }, "conversation is finalizing without a final position");
      return "waiting_for_chunks";
    }
    const chunkSize = conversation.chunk_size;
    // Every socket's count: the recent ones on the record, the older ones on their session documents.
    const recorded = lifecycle.allEventsRecorded(
      conversation.events_recorded,
      await evictedEventCounts(db, conversationId),
    );
    const chunks = chunkCompleteness(
      finalPosition,
      chunkSize,
      await persistedChunks(db, conversationId, chunksUpTo(finalPosition, chunkSize).length),
    );
    if (!chunks.complete && chunks.problem) logger.error({ final_position: finalPosition }, chunks.problem);
    const events = chunks.complete ? await eventProgress(db, conversationId, recorded) : { missing: 0, rejected: [] };

    const flipped = await untilUnchanged(`the finalization of conversation ${conversationId}`, async () => {
      const read = await readConversation(db, conversationId);
      if (!read) return undefined;
      const current = read.data;
      const completion = lifecycle.completeFinalization(current, {
        missingChunks: chunks.complete ? 0 : chunks.missing,
        missingEvents: events.missing,
        rejected: events.rejected,
      });
      if ("refused" in completion || !completion.ready) return completion;
      await ref.update(
        {
          ...completion.update,
          extraction_generation_at: FieldValue.serverTimestamp(),
          finalized_at: FieldValue.serverTimestamp(),
          updated_at: FieldValue.serverTimestamp(),
        },
        { lastUpdateTime: read.updateTime },
      );
      return completion;
    });
    if (flipped === undefined) return "no_conversation";
    if ("refused" in flipped)
      return flipped.status === "finalized" ? await afterRefusedStart(conversationId, logger) : "in_progress";
    if (!flipped.ready) return flipped.waitingFor === "chunks" ? "waiting_for_chunks" : "waiting_for_events";

    logger.info(
      {
        final_position: finalPosition,
        finalize_reason: conversation.finalize_reason,
        events: lifecycle.recordedEvents(recorded).length,
        rejected_events: events.rejected.length,
        extraction_generation: flipped.generation,
      },
      "conversation finalized: every chunk and every event sent before the end is stored",
    );
    if (events.rejected.length > 0) {
      logger.error(
        { rejected_events: events.rejected },
        "conversation finalized with events that could never be stored; extraction reports failed",
      );
    }
    await request(conversationId, flipped.generation, "finalized", logger, conversation.user_id);
    return "finalized";
  };

  const speakerDataChanged: Finalizer["speakerDataChanged"] = async (conversationId, writtenAtMs, logger) => {
    const ref = conversationRef(db, conversationId);
    // While the conversation streams (nearly every event), nothing changes: one read.
    const outcome = await untilUnchanged(`the extraction generation of conversation ${conversationId}`, async () => {
      const read = await readConversation(db, conversationId);
      if (read === undefined) return undefined;
      const current = read.data;
      const change = lifecycle.dataChanged(current, writtenAtMs);
      if (!change) return { bumped: false as const, current };
      await ref.update(
        {
          ...change.update,
          extraction_generation_at: FieldValue.serverTimestamp(),
          updated_at: FieldValue.serverTimestamp(),
        },
        { lastUpdateTime: read.updateTime },
      );
      return { bumped: true as const, current: { ...current, ...change.update } };
    });
    if (outcome === undefined) return;
    if (!outcome.bumped) {
      // No generation to start (still streaming, or one started since): a generation this
      // worker's own earlier attempt started, or another's, is requested by whoever finds it.
      await ensureRequested(conversationId, outcome.current, logger);
      return;
    }
    logger.info(
      { extraction_generation: outcome.current.extraction_generation },
      "speaker data changed after finalization: a newer extraction generation starts",
    );
    await request(
      conversationId,
      outcome.current.extraction_generation,
      "speaker_assigned",
      logger,
      outcome.current.user_id,
    );
  };

  const afterEvent: Finalizer["afterEvent"] = async (conversationId, given, writtenAtMs, logger) => {
    const conversation = given.read?.data;
    if (writtenAtMs !== undefined && conversation && lifecycle.dataChanged(conversation, writtenAtMs)) {
      // Rare (speaker data after the flip): the generation's own steps read afresh.
      await speakerDataChanged(conversationId, writtenAtMs, logger);
      return await completeIfReady(conversationId, logger);
    }
    return await completeIfReady(conversationId, logger, given);
  };

  return { completeIfReady, speakerDataChanged, afterEvent };
}
