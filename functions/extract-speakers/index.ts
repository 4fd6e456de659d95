/**
 * The speaker-extraction worker (CloudEvent function on the extraction topic), triggered
 * when a conversation is finalized and again when a speaker is assigned in a finalized
 * conversation. Resolving acks the message; throwing has it redelivered, which is how
 * audio still in flight (or an embedding service that is down) is waited for. A message
 * it must never process (another environment's, a broken schema) goes to the dead-letter
 * topic with an error log line.
 */

import type { ExtractionSettings } from "../../shared/extraction-settings";
import { conversationLogger } from "../../shared/logger";
import { workerName } from "../../shared/pipeline";
import type { PubSubHandler } from "../../shared/pubsub-event";
import { createDeadLetterer, receiveOrDeadLetter } from "../dead-letter";
import { createDeletionGuard } from "../deletion/guard";
import { createDeliveryRecorder } from "../delivery-record";
import { createNotifier, notifyExtractionResult } from "../notifications";
import type { EnvironmentRuntime } from "../runtime";
import { embedderFor } from "./embedder-config";
import type { SpeakerEmbedder } from "./embedding";
import { extractConversation } from "./extract-conversation";
import { parseExtractionMessage } from "./extraction-request";

export const EXTRACT_SPEAKERS_COMPONENT = workerName("extractSpeakers");

export interface ExtractSpeakersOptions {
  /** Thresholds; by default the TETHER_EXTRACTION_* variables over the defaults. */
  readonly settings?: ExtractionSettings;
  /** By default the hosted service when TETHER_EMBEDDING_URL is set, else the built-in one. */
  readonly embedder?: SpeakerEmbedder;
  readonly now?: () => Date;
}

export class ExtractionRetryError extends Error {
  override name = "ExtractionRetryError";
}

export function createExtractSpeakersHandler(
  runtime: EnvironmentRuntime,
  options: ExtractSpeakersOptions = {},
): PubSubHandler {
  const settings = options.settings ?? runtime.settings.extraction;
  const embedder = options.embedder ?? embedderFor(runtime.settings, settings);
  const now = options.now ?? (() => new Date());
  const deletion = createDeletionGuard(runtime, "extractSpeakers");
  const deadLetters = createDeadLetterer(runtime, "extractSpeakers", createDeliveryRecorder(runtime, deletion));
  const notifier = createNotifier(runtime);
  const environment = runtime.resources.environment;
  const deps = {
    db: runtime.clients.firestore,
    bucket: runtime.clients.bucket,
    embedder,
    settings,
  };

  return async (event) => {
    const received = await receiveOrDeadLetter(event, deadLetters, (m) => parseExtractionMessage(m, environment));
    if (!received) return;
    const { message, parsed } = received;
    const { conversation_id: conversationId, reason, generation } = parsed.attributes;
    const logger = conversationLogger(runtime.logger, {
      conversation_id: conversationId,
      environment,
      component: EXTRACT_SPEAKERS_COMPONENT,
      message_id: message.id,
      trigger: reason,
      requested_generation: generation,
    });
    const started = Date.now();
    if (await deletion.isDeleted(conversationId, logger)) return;
    let outcome: Awaited<ReturnType<typeof extractConversation>>;
    try {
      outcome = await extractConversation({ ...deps, logger }, runtime.resources.bucket, {
        conversationId,
        deliveryAttempt: message.deliveryAttempt,
        publishedAt: message.publishTime ? new Date(message.publishTime) : undefined,
        now: now(),
      });
      // Samples it wrote while the conversation was being deleted are purged again.
      if (await deletion.sweepIfDeleted(conversationId, logger)) return;
    } catch (error) {
      if (await deletion.sweepIfDeleted(conversationId, logger)) return;
      logger.error(
        { err: error, delivery_attempt: message.deliveryAttempt },
        "speaker extraction failed; it will be redelivered",
      );
      throw error;
    }
    switch (outcome.kind) {
      case "conversation_not_found":
        // The request is published only after the conversation is finalized in this
        // environment's database; its absence is an anomaly, kept visible by redelivery
        // until the subscription dead-letters it.
        logger.error(
          { delivery_attempt: message.deliveryAttempt },
          "extraction requested for a conversation that does not exist",
        );
        throw new ExtractionRetryError(`conversation ${conversationId} does not exist in ${environment}`);
      case "not_finalized":
        logger.info(
          { conversation_status: outcome.status },
          "conversation is not finalized yet; extraction runs when finalization requests it",
        );
        return;
      case "retry":
        logger.warn(
          { delivery_attempt: message.deliveryAttempt, reason: outcome.reason },
          `speaker extraction will retry: ${outcome.detail}`,
        );
        throw new ExtractionRetryError(outcome.detail);
      case "answered":
        logger.info(
          { extraction_generation: outcome.generation },
          "speaker extraction already answered for the newest generation; duplicate request acknowledged",
        );
        await notifyExtractionResult(deps.db, notifier, conversationId, logger);
        return;
      case "stale":
        logger.info(
          { extraction_generation: outcome.generation },
          "speaker extraction superseded by a newer generation; its result is not recorded",
        );
        return;
      case "done":
        logger.info(
          {
            extraction_status: outcome.status,
            people: outcome.people.length,
            ...outcome.stats,
            elapsed_ms: Date.now() - started,
          },
          "speaker extraction done",
        );
        await notifyExtractionResult(deps.db, notifier, conversationId, logger);
    }
  };
}
