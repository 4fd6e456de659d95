/**
 * The persist-audio worker (CloudEvent function on the audio topic): validates a chunk,
 * stores it in this environment's bucket and indexes it, then reads the conversation once.
 * Resolving acks the message; throwing has it redelivered.
 *
 * One database read per chunk, the conversation AFTER the write. It serves:
 * - the deletion check after the write (deletion/guard.ts: a record without `deleted_at` was
 *   read before the tombstone existed, so the purge's listing saw this write; `deleted_at` or
 *   no record and a tombstone: purge again). A late chunk of a long-deleted conversation is
 *   written, then purged again: rare, and logged.
 * - the completion check: a conversation read as finalizing is checked on this very read.
 *   A finalize that came after the read checks for itself, and sees this chunk: it was
 *   written before the read, so before the finalize.
 * - `checkAgainstConversation`: a chunk that contradicts its conversation (only a bug, or a
 *   superseded socket's chunk past the final position) is removed again if its bytes are
 *   the ones stored at its index (removeChunk), then dead-lettered. Meanwhile a completion
 *   check cannot count it: an index at or past ceil(final / chunk size) is not counted, and
 *   the last one must end at the final position. A reader may serve it for those few
 *   milliseconds, and another chunk of its index arriving then is refused as a conflict,
 *   both as before whenever the chunk's earlier read preceded the finalize (the read-before
 *   order then kept it for good). A redelivery of a chunk past the final position removes it too (the same digest at the
 *   same index is the same audio); another mismatch is removed only by the delivery that
 *   created its ChunkDoc, since identical bytes at that index may be the conversation's own.
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
import { removeChunk, storeChunk } from "./store-chunk";

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
      const outcome = await storeChunk(db, runtime.clients.bucket, chunk);
      const read = await readConversation(db, conversationId);
      const conversation = read?.data;
      if (outcome.kind === "conflict") {
        // Nothing was written: a deleted conversation's message is simply done with.
        if (await deletion.isDeleted(conversationId, logger, { record: conversation })) return;
        await deadLetters.reject(
          message,
          checkAgainstConversation(chunk.attributes, conversation) ?? {
            reason: "chunk_conflict",
            detail:
              `chunk ${index} was already stored with sha256 ${outcome.storedSha256}; ` +
              `this message carries different bytes (sha256 ${chunk.sha256}) and is not written`,
          },
        );
        return;
      }
      if (await deletion.sweepIfDeleted(conversationId, logger, { record: conversation })) {
        logger.info({ outcome: outcome.kind }, "chunk of a deleted conversation: written, then purged again");
        return;
      }
      const mismatch = checkAgainstConversation(chunk.attributes, conversation);
      if (mismatch) {
        if (outcome.kind === "stored" || mismatch.reason === "beyond_final_position") {
          await removeChunk(db, runtime.clients.bucket, chunk);
        } else {
          // Its bytes were stored before this delivery: they may be the conversation's own.
          logger.error(
            { rejection_reason: mismatch.reason },
            "chunk contradicts its conversation; the same bytes stored at its index are left in place",
          );
        }
        await deadLetters.reject(message, mismatch);
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
      if (conversation !== undefined && conversation.status !== "in_progress") {
        await finalizer.completeIfReady(conversationId, logger, { read });
      }
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
