/**
 * The events worker (CloudEvent function on the events topic): segments, speaker
 * assignments and finalize triggers, per conversation. Every branch is safe to run twice,
 * concurrently, and in any order relative to the audio and to other events: what an event
 * writes carries its revision (shared/lifecycle.ts `eventRevision`), and the conversation
 * waits for every counted event by its marker, not by delivery order.
 *
 * For a segments or speaker_assigned event, in this order:
 *   0. read the conversation: a deleted one stores nothing, another owner's is refused;
 *   1. write it (a newer revision already stored wins);
 *   2. mark the event applied (the lifecycle's barrier counts these markers);
 *   3. read the conversation again, once: deleted meanwhile, purge again; else if the write
 *      changed anything and the conversation is already finalized, start a newer extraction
 *      generation (so a run never answers `done` without it); else run the completion
 *      check: this may have been the last thing it waited for.
 * A finalize trigger runs the completion check on the first read (it writes nothing), and
 * is redelivered while chunks are missing.
 * A failure that can never succeed (the database refuses the data) dead-letters the event
 * with its reason and marks it rejected, so the conversation still completes and says what
 * it could not store. Any other failure is retried for as long as it lasts.
 */
import { FieldValue, type Firestore } from "@google-cloud/firestore";
import { type AppliedEventDoc, appliedEventRef, readConversation } from "../../shared/firestore-schema";
import { eventRevision } from "../../shared/lifecycle";
import { conversationLogger, type Logger } from "../../shared/logger";
import { type EventAttributes, eventAttributesSchema } from "../../shared/messages";
import type { PubSubHandler, ReceivedMessage } from "../../shared/pubsub-event";
import { createDeadLetterer, receiveOrDeadLetter } from "../dead-letter";
import { createDeletionGuard, type DeletionGuard } from "../deletion/guard";
import { createDeliveryRecorder } from "../delivery-record";
import { classifyFailure } from "../failure-kind";
import {
  ChunksPendingError,
  type ConversationAsRead,
  createFinalizer,
  type FinalizationOutcome,
  type Finalizer,
} from "../finalization";
import type { EnvironmentRuntime } from "../runtime";
import { type ConversationEvent, parseEventMessage } from "./event-message";
import { assignSpeaker, upsertSegments } from "./segments";

/** The segment ids an event names (for a rejection's record). */
function segmentIdsOf(event: ConversationEvent): string[] {
  switch (event.body.type) {
    case "segments":
      return event.body.segments.map((s) => s.id);
    case "speaker_assigned":
      return [...event.body.segment_ids];
    case "finalize":
      return [];
  }
}

type EventTag = Pick<EventAttributes, "conversation_id" | "session_id" | "seq">;

/** Marks a counted event done with, for the barrier (idempotent: the same marker each time). */
async function markEvent(
  db: Firestore,
  tag: EventTag,
  outcome: { outcome: "applied" } | { outcome: "rejected"; reason: string; segmentIds: string[] },
): Promise<void> {
  const { conversation_id: conversationId, session_id: sessionId, seq } = tag;
  if (seq === 0) return;
  const marker: Omit<AppliedEventDoc, "applied_at"> & { applied_at: FieldValue } = {
    session_id: sessionId,
    seq,
    applied_at: FieldValue.serverTimestamp(),
    ...(outcome.outcome === "applied"
      ? { outcome: "applied" }
      : { outcome: "rejected", reason: outcome.reason, segment_ids: outcome.segmentIds }),
  };
  await appliedEventRef(db, conversationId, { sessionId, seq }).set(marker);
}

/**
 * A counted event whose body this worker refused (the ingress and the worker disagree on
 * what is valid): it is recorded as rejected, so its conversation still completes and says so.
 */
function countedEventTag(message: ReceivedMessage, environment: string): EventTag | undefined {
  const attributes = eventAttributesSchema.safeParse(message.attributes);
  if (!attributes.success || attributes.data.environment !== environment || attributes.data.seq === 0) return undefined;
  return attributes.data;
}

/**
 * Writes the event's data; resolves with the commit time of the newest document this event
 * wrote (now or on an earlier delivery), or undefined when a newer event owns them all.
 */
async function writeEvent(db: Firestore, event: ConversationEvent, logger: Logger): Promise<number | undefined> {
  const { conversation_id: conversationId, session_id: sessionId } = event.attributes;
  const revision = eventRevision(event.attributes.session_ordinal, event.attributes.seq);
  const body = event.body;
  switch (body.type) {
    case "segments": {
      const result = await upsertSegments(db, conversationId, sessionId, body.segments, revision);
      logger.info(
        { written: result.written.length, same: result.same.length, stale: result.stale.length, revision },
        "segments stored",
      );
      return result.lastWriteMs;
    }
    case "speaker_assigned": {
      const result = await assignSpeaker(db, conversationId, sessionId, body.person_id, body.segment_ids, revision);
      logger.info(
        {
          person_id: body.person_id,
          written: result.written.length,
          same: result.same.length,
          stale: result.stale.length,
          revision,
        },
        "speaker assigned",
      );
      return result.lastWriteMs;
    }
    case "finalize":
      return undefined;
  }
}

/**
 * After an event's writes (`writtenAtMs`: its data's, if any; and its marker): one read of
 * the conversation is the deletion check after the writes (deletion/guard.ts: a record
 * without `deleted_at` was read before the tombstone's batch) and the input of the
 * generation and completion checks. Undefined when it was deleted meanwhile (purged again).
 */
async function settle(
  db: Firestore,
  finalizer: Finalizer,
  deletion: DeletionGuard,
  conversationId: string,
  writtenAtMs: number | undefined,
  logger: Logger,
): Promise<FinalizationOutcome | undefined> {
  const read = await readConversation(db, conversationId);
  if (await deletion.sweepIfDeleted(conversationId, logger, { record: read?.data })) return undefined;
  return await finalizer.afterEvent(conversationId, { read }, writtenAtMs, logger);
}

async function applyEvent(
  db: Firestore,
  finalizer: Finalizer,
  deletion: DeletionGuard,
  event: ConversationEvent,
  before: ConversationAsRead,
  logger: Logger,
): Promise<void> {
  const { conversation_id: conversationId } = event.attributes;
  if (event.body.type === "finalize") {
    // A trigger writes nothing: the read that let it in is as good as a new one.
    const outcome = await finalizer.completeIfReady(conversationId, logger, before);
    logger.info({ outcome, final_position: event.body.final_position, reason: event.body.reason }, "finalize checked");
    // Checked again until no chunk is missing. Not needed for completion since persist-audio
    // reads the conversation after its write (a chunk stored after this check checks itself).
    if (outcome === "waiting_for_chunks") throw new ChunksPendingError(conversationId);
    return;
  }
  const writtenAtMs = await writeEvent(db, event, logger);
  await markEvent(db, event.attributes, { outcome: "applied" });
  const outcome = await settle(db, finalizer, deletion, conversationId, writtenAtMs, logger);
  if (outcome === "finalized") logger.info({ outcome }, "this event completed the conversation");
}

export function createEventsHandler(runtime: EnvironmentRuntime): PubSubHandler {
  const deletion = createDeletionGuard(runtime, "events");
  const deadLetters = createDeadLetterer(runtime, "events", createDeliveryRecorder(runtime, deletion));
  const finalizer = createFinalizer(runtime);
  const db = runtime.clients.firestore;
  const environment = runtime.resources.environment;

  return async (cloudEvent) => {
    const received = await receiveOrDeadLetter(
      cloudEvent,
      deadLetters,
      (m) => parseEventMessage(m, environment),
      async (m, rejection) => {
        const tag = countedEventTag(m, environment);
        if (tag === undefined) return;
        const tagLogger = runtime.logger.child({ conversation_id: tag.conversation_id });
        const read = await readConversation(db, tag.conversation_id);
        if (await deletion.isDeleted(tag.conversation_id, tagLogger, { record: read?.data })) return;
        await markEvent(db, tag, { outcome: "rejected", reason: rejection.reason, segmentIds: [] });
        await settle(db, finalizer, deletion, tag.conversation_id, undefined, tagLogger);
      },
    );
    if (!received) return;
    const { message, parsed } = received;
    const { event } = parsed;
    const logger = conversationLogger(runtime.logger, {
      conversation_id: event.attributes.conversation_id,
      environment,
      session_id: event.attributes.session_id,
      event_type: event.attributes.event_type,
      event_id: event.attributes.event_id,
      seq: event.attributes.seq,
      message_id: message.id,
    });
    const conversationId = event.attributes.conversation_id;
    try {
      // One read before any write: deletion (deleted_at, from the tombstone's batch), owner, and a trigger's check.
      const read = await readConversation(db, conversationId);
      if (await deletion.isDeleted(conversationId, logger, { record: read?.data })) return;
      const conversation = read?.data;
      if (conversation && conversation.user_id !== event.attributes.user_id) {
        await deadLetters.reject(message, {
          reason: "conversation_mismatch",
          detail: `event ${event.attributes.event_id} names another user than the conversation's owner`,
        });
        return;
      }
      await applyEvent(db, finalizer, deletion, event, { read }, logger);
    } catch (error) {
      // Deleted meanwhile (the record vanished under a write): purge again, nothing to retry.
      if (await deletion.sweepIfDeleted(conversationId, logger)) return;
      if (classifyFailure(error) === "permanent") {
        await deadLetters.reject(message, {
          reason: "store_refused",
          detail: `event ${event.attributes.event_id} can never be stored: ${(error as Error).message}`,
        });
        await markEvent(db, event.attributes, {
          outcome: "rejected",
          reason: "store_refused",
          segmentIds: segmentIdsOf(event),
        });
        await settle(db, finalizer, deletion, conversationId, undefined, logger);
        return;
      }
      logger.warn(
        { err: error, delivery_attempt: message.deliveryAttempt },
        "processing event failed; it will be redelivered until it succeeds",
      );
      throw error;
    }
  };
}
