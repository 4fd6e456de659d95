/**
 * The events worker (CloudEvent function on the events topic): segments, speaker
 * assignments and finalize, per conversation. Every branch is safe to run twice and in
 * any order relative to the audio: a segment before its audio, an assignment before its
 * segment, a finalize before the last chunk.
 */
import type { Firestore } from "@google-cloud/firestore";
import {
  type AssignmentDoc,
  assignmentRef,
  type ConversationDoc,
  conversationRef,
} from "../../shared/firestore-schema";
import { conversationLogger, type Logger } from "../../shared/logger";
import type { Segment } from "../../shared/messages";
import type { PubSubHandler } from "../../shared/pubsub-event";
import { createDeadLetterer, isFinalDeliveryAttempt, receiveOrDeadLetter } from "../dead-letter";
import { createFinalizer, type Finalizer } from "../finalization";
import type { EnvironmentRuntime } from "../runtime";
import { type ConversationEvent, parseEventMessage } from "./event-message";
import { recordFinalize } from "./record-finalize";
import { assignSpeaker, upsertSegments } from "./segments";

export const EVENTS_COMPONENT = "events";

/** The finalize arrived before the conversation document is readable: try again later. */
export class ConversationNotYetVisibleError extends Error {
  override name = "ConversationNotYetVisibleError";
}

async function conversationStatus(
  db: Firestore,
  conversationId: string,
): Promise<ConversationDoc["status"] | undefined> {
  return ((await conversationRef(db, conversationId).get()).data() as ConversationDoc | undefined)?.status;
}

/** Whether any of these segments carries a speaker, on itself or through an assignment. */
async function anyAssigned(db: Firestore, conversationId: string, segments: readonly Segment[]): Promise<boolean> {
  if (segments.some((s) => s.person_id !== null)) return true;
  const refs = segments.map((s) => assignmentRef(db, conversationId, s.id));
  const snapshots = refs.length > 0 ? await db.getAll(...refs) : [];
  return snapshots.some((snapshot) => (snapshot.data() as AssignmentDoc | undefined) !== undefined);
}

/**
 * Speaker extraction reads segments and assignments when it runs. One that lands after the
 * conversation was finalized (a late or redelivered event) asks for a new run. The status
 * is read after the write, so either this read sees `finalized` or the run that the
 * finalization requested starts after the write and sees it.
 */
async function reextractIfFinalized(
  db: Firestore,
  finalizer: Finalizer,
  conversationId: string,
  logger: Logger,
): Promise<void> {
  if ((await conversationStatus(db, conversationId)) !== "finalized") return;
  const requestId = await finalizer.requestExtraction(conversationId, "speaker_assigned");
  logger.info(
    { extraction_request_id: requestId },
    "speaker data changed after finalization; extraction requested again",
  );
}

async function applyEvent(
  db: Firestore,
  finalizer: Finalizer,
  event: ConversationEvent,
  logger: Logger,
): Promise<void> {
  const { conversation_id: conversationId, session_id: sessionId } = event.attributes;
  const body = event.body;
  switch (body.type) {
    case "segments": {
      const result = await upsertSegments(db, conversationId, sessionId, body.segments, event.publishedAtMs);
      logger.info({ written: result.written.length, stale: result.stale }, "segments stored");
      const written = new Set(result.written);
      const changed = body.segments.filter((s) => written.has(s.id));
      if (changed.length > 0 && (await anyAssigned(db, conversationId, changed))) {
        await reextractIfFinalized(db, finalizer, conversationId, logger);
      }
      return;
    }
    case "speaker_assigned": {
      const result = await assignSpeaker(
        db,
        conversationId,
        sessionId,
        body.person_id,
        body.segment_ids,
        event.publishedAtMs,
      );
      logger.info(
        { person_id: body.person_id, written: result.written.length, stale: result.stale },
        "speaker assigned",
      );
      if (result.written.length > 0) await reextractIfFinalized(db, finalizer, conversationId, logger);
      return;
    }
    case "finalize": {
      const record = await recordFinalize(db, conversationId, body.final_position, body.reason);
      if (record.kind === "no_conversation") {
        throw new ConversationNotYetVisibleError(
          `finalize for conversation ${conversationId} arrived before its conversation document exists`,
        );
      }
      if (record.kind === "different_final_position") {
        logger.warn(
          { final_position: body.final_position, stored_final_position: record.stored },
          "finalize names another final position than the one recorded; the recorded one stands",
        );
      }
      const outcome = await finalizer.completeIfReady(conversationId, logger);
      logger.info(
        { record: record.kind, outcome, final_position: body.final_position, reason: body.reason },
        "finalize processed",
      );
      return;
    }
  }
}

export function createEventsHandler(runtime: EnvironmentRuntime): PubSubHandler {
  const deadLetters = createDeadLetterer(runtime, EVENTS_COMPONENT);
  const finalizer = createFinalizer(runtime);
  const db = runtime.clients.firestore;
  const environment = runtime.resources.environment;

  return async (cloudEvent) => {
    const received = await receiveOrDeadLetter(cloudEvent, deadLetters, (m) => parseEventMessage(m, environment));
    if (!received) return;
    const { message, parsed } = received;
    const { event } = parsed;
    const logger = conversationLogger(runtime.logger, {
      conversation_id: event.attributes.conversation_id,
      environment,
      session_id: event.attributes.session_id,
      event_type: event.attributes.event_type,
      event_id: event.attributes.event_id,
      message_id: message.id,
    });
    try {
      const conversation = (await conversationRef(db, event.attributes.conversation_id).get()).data() as
        | ConversationDoc
        | undefined;
      if (conversation && conversation.user_id !== event.attributes.user_id) {
        await deadLetters.reject(message, {
          reason: "conversation_mismatch",
          detail: `event ${event.attributes.event_id} names another user than the conversation's owner`,
        });
        return;
      }
      await applyEvent(db, finalizer, event, logger);
    } catch (error) {
      if (isFinalDeliveryAttempt(message.deliveryAttempt)) {
        await deadLetters.reject(message, {
          reason: "retries_exhausted",
          detail: `event ${event.attributes.event_id} failed on all ${message.deliveryAttempt} deliveries; last error: ${(error as Error).message}`,
        });
        return;
      }
      const transient = error instanceof ConversationNotYetVisibleError;
      logger[transient ? "warn" : "error"](
        { err: error, delivery_attempt: message.deliveryAttempt },
        "processing event failed; it will be redelivered",
      );
      throw error;
    }
  };
}
