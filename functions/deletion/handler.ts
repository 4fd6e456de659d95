/**
 * The delete-data worker (CloudEvent function on the deletion topic):
 * - `conversation`: purges a conversation whose tombstone the API wrote, then notifies
 *   `tether.conversation.deleted`;
 * - `person`: deletes one user's person: its samples and embedding;
 * - `retention`: deletes expired conversations through the same path (./retention.ts).
 * Every step is idempotent: a redelivery purges again (finding nothing) and notifies again
 * with the same event id. A failure is retried; a message it can never act on (another
 * environment's, a broken body, a conversation with no tombstone) is dead-lettered.
 */
import { deletionAttributesSchema, deletionBodySchema, deletionMessage } from "../../shared/deletion-messages";
import type { EnvironmentName } from "../../shared/environment";
import { conversationLogger, type Logger } from "../../shared/logger";
import type { PubSubHandler, ReceivedMessage } from "../../shared/pubsub-event";
import { createDeadLetterer, receiveOrDeadLetter } from "../dead-letter";
import { createDeliveryRecorder } from "../delivery-record";
import { createNotifier, type Notifier } from "../notifications";
import { readJsonMessage } from "../read-message";
import type { EnvironmentRuntime } from "../runtime";
import { createDeletionGuard } from "./guard";
import { purgeConversation, purgePerson } from "./purge";
import { expiredConversations, retentionCutoff, unpurgedTombstones } from "./retention";
import { readTombstone, requestDeletion } from "./tombstone";

export function parseDeletionMessage(message: ReceivedMessage, environment: EnvironmentName) {
  const read = readJsonMessage(message, environment, {
    name: "deletion",
    attributes: deletionAttributesSchema,
    body: deletionBodySchema,
    bodyReason: "invalid_body",
    disagreement: (attributes, body) =>
      body.kind === attributes.kind
        ? undefined
        : { reason: "invalid_body", detail: `body is a ${body.kind} deletion, attributes say ${attributes.kind}` },
  });
  return read.ok ? { ok: true as const, body: read.body } : read;
}

export function createDeleteDataHandler(runtime: EnvironmentRuntime): PubSubHandler {
  const deadLetters = createDeadLetterer(
    runtime,
    "deletion",
    createDeliveryRecorder(runtime, createDeletionGuard(runtime, "deletion")),
  );
  const notifier = createNotifier(runtime);
  const db = runtime.clients.firestore;
  const deps = { db, bucket: runtime.clients.bucket };
  const environment = runtime.resources.environment;
  const deletionTopic = runtime.clients.pubsub.topic(runtime.resources.topics.deletion);

  const deleteConversation = async (
    conversationId: string,
    userId: string,
    reason: string,
    notify: Notifier,
    logger: Logger,
  ) => {
    await purgeConversation(deps, { conversationId, userId }, logger);
    await notify.publish(
      "tether.conversation.deleted",
      { conversation_id: conversationId, user_id: userId, reason },
      logger,
    );
  };

  return async (event) => {
    const received = await receiveOrDeadLetter(event, deadLetters, (m) => parseDeletionMessage(m, environment));
    if (!received) return;
    const { message, parsed } = received;
    const body = parsed.body;
    switch (body.kind) {
      case "conversation": {
        const logger = conversationLogger(runtime.logger, {
          conversation_id: body.conversation_id,
          environment,
          message_id: message.id,
        });
        const tombstone = await readTombstone(db, body.conversation_id);
        if (tombstone === undefined) {
          await deadLetters.reject(message, {
            reason: "conversation_mismatch",
            detail: `conversation ${body.conversation_id} has no tombstone: only the API's DELETE or retention may delete it`,
          });
          return;
        }
        await deleteConversation(body.conversation_id, tombstone.user_id, tombstone.reason, notifier, logger);
        return;
      }
      case "person": {
        // The user's own profile of that id: another user's profile of the same id is another one.
        const logger = runtime.logger.child({ person_id: body.person_id, message_id: message.id });
        await purgePerson(deps, { userId: body.user_id, personId: body.person_id }, logger);
        return;
      }
      case "retention": {
        const logger = runtime.logger.child({ message_id: message.id, retention_days: body.retention_days });
        const now = new Date();
        const cutoff = retentionCutoff(now, body.retention_days);
        const expired = await expiredConversations(db, cutoff);
        for (const conversationId of expired.ids) {
          const conversationLog = conversationLogger(logger, { conversation_id: conversationId, environment });
          const requested = await requestDeletion(db, conversationId, { userId: undefined, reason: "retention" });
          if (requested.kind !== "requested" && requested.kind !== "already_deleted") continue;
          await deleteConversation(conversationId, requested.tombstone.user_id, "retention", notifier, conversationLog);
        }
        for (const lost of await unpurgedTombstones(db, now)) {
          const conversationLog = conversationLogger(logger, { conversation_id: lost.conversationId, environment });
          conversationLog.warn({}, "a deletion was never purged (its message was lost); purging it now");
          await deleteConversation(lost.conversationId, lost.userId, lost.reason, notifier, conversationLog);
        }
        logger.info({ expired: expired.ids.length, cutoff: cutoff.toISOString() }, "retention run done");
        if (expired.full) await deletionTopic.publishMessage(deletionMessage(environment, body));
        return;
      }
    }
  };
}
