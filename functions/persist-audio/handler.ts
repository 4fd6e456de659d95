/**
 * The persist-audio worker (CloudEvent function on the audio topic): validates a chunk,
 * stores it in this environment's bucket and indexes it, then runs the lifecycle's
 * completion check. Resolving acks the message; throwing has it redelivered.
 *
 * One database read per chunk, the conversation before the write: it refuses a chunk that
 * contradicts the conversation or is deleted, and says whether finalization has begun. Only
 * then does a completion check follow the write; a finalize that the read did not see is
 * checked by its own trigger, which is redelivered until no chunk is missing
 * (events/handler.ts). The deletion check after the write reads the bucket's tombstone
 * object (deletion/guard.ts).
 *
 * A chunk the ingress acknowledged is never given up on: a transient failure (Firestore,
 * Storage or Pub/Sub unavailable or contended) is retried for as long as it lasts. Only a
 * chunk that can never be stored (another environment's, a broken schema, bytes that
 * contradict a stored chunk, data the store refuses) goes to the dead-letter topic.
 */
import { readConversation } from "../../shared/firestore-schema";
import { conversationLogger } from "../../shared/logger";
import { workerName } from "../../shared/pipeline";
import type { PubSubHandler } from "../../shared/pubsub-event";
import { createDeadLetterer, receiveOrDeadLetter } from "../dead-letter";
import { createDeletionGuard } from "../deletion/guard";
import { createDeliveryRecorder } from "../delivery-record";
import { classifyFailure } from "../failure-kind";
import { createFinalizer } from "../finalization";
import type { EnvironmentRuntime } from "../runtime";
import { checkAgainstConversation, parseAudioChunkMessage } from "./chunk-message";
import { storeChunk } from "./store-chunk";

export const PERSIST_AUDIO_COMPONENT = workerName("persistAudio");

export function createPersistAudioHandler(runtime: EnvironmentRuntime): PubSubHandler {
  const deletion = createDeletionGuard(runtime, "persistAudio");
  const deliveries = createDeliveryRecorder(runtime, deletion);
  const deadLetters = createDeadLetterer(runtime, "persistAudio", deliveries);
  const finalizer = createFinalizer(runtime);
  const db = runtime.clients.firestore;
  const environment = runtime.resources.environment;

  return async (event) => {
    const received = await receiveOrDeadLetter(event, deadLetters, (m) => parseAudioChunkMessage(m, environment));
    if (!received) return;
    const { message, parsed } = received;
    const { chunk } = parsed;
    const { conversation_id: conversationId, chunk_index: index, session_id: sessionId } = chunk.attributes;
    const logger = conversationLogger(runtime.logger, {
      conversation_id: conversationId,
      environment,
      chunk_index: index,
      session_id: sessionId,
      message_id: message.id,
    });

    try {
      const conversation = (await readConversation(db, conversationId))?.data;
      // A deletion after this read is caught by the check after the write (deletion/guard.ts).
      if (await deletion.isDeleted(conversationId, logger, { record: conversation })) return;
      const mismatch = checkAgainstConversation(chunk.attributes, conversation);
      if (mismatch) {
        await deadLetters.reject(message, mismatch);
        return;
      }

      const outcome = await storeChunk(db, runtime.clients.bucket, chunk);
      if (outcome.kind === "conflict") {
        await deadLetters.reject(message, {
          reason: "chunk_conflict",
          detail:
            `chunk ${index} was already stored with sha256 ${outcome.storedSha256}; ` +
            `this message carries different bytes (sha256 ${chunk.sha256}) and is not written`,
        });
        return;
      }
      logger.info(
        {
          outcome: outcome.kind,
          object: chunk.objectName,
          bytes: chunk.body.length,
          start: chunk.attributes.start,
          end: chunk.attributes.end,
        },
        outcome.kind === "stored" ? "chunk persisted" : "chunk already persisted (redelivery)",
      );
      if (outcome.kind === "already_stored") {
        const { start, end } = chunk.attributes;
        const facts = { kind: "redelivered", worker: PERSIST_AUDIO_COMPONENT, chunk_index: index, start, end } as const;
        await deliveries.record(conversationId, message.id, { ...facts, session_id: sessionId }, logger);
      }
      // Also after a redelivery: the attempt that stored it may have failed before this check.
      const finalizing = conversation !== undefined && conversation.status !== "in_progress";
      await Promise.all([
        finalizing ? finalizer.completeIfReady(conversationId, logger) : undefined,
        deletion.sweepIfDeleted(conversationId, logger),
      ]);
    } catch (error) {
      // Deleted meanwhile (the record vanished under a write): purge again, nothing to retry.
      if (await deletion.sweepIfDeleted(conversationId, logger)) return;
      if (classifyFailure(error) === "permanent") {
        await deadLetters.reject(message, {
          reason: "store_refused",
          detail: `chunk ${index} can never be stored: ${(error as Error).message}`,
        });
        return;
      }
      logger.warn(
        { err: error, delivery_attempt: message.deliveryAttempt },
        "persisting chunk failed; it will be redelivered until it succeeds",
      );
      throw error;
    }
  };
}
