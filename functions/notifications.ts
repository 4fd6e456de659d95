/**
 * Publishes lifecycle notifications (shared/notifications.ts) to the environment's
 * `notifications` topic. A publisher calls it after the step is durable and before it
 * acknowledges what caused it, so a failed publish is retried with its message: at least
 * once, deduplicated by the event id.
 */
import type { Firestore } from "@google-cloud/firestore";
import { readConversation } from "../shared/firestore-schema";
import { isBeingDeleted, lifecycleView } from "../shared/lifecycle";
import type { Logger } from "../shared/logger";
import {
  buildNotification,
  type NotificationData,
  type NotificationType,
  notificationAttributes,
} from "../shared/notifications";
import type { EnvironmentRuntime } from "./runtime";

export interface Notifier {
  publish(type: NotificationType, data: Omit<NotificationData, "environment">, logger: Logger): Promise<void>;
}

export function createNotifier(runtime: EnvironmentRuntime): Notifier {
  const topic = runtime.clients.pubsub.topic(runtime.resources.topics.notifications);
  const environment = runtime.resources.environment;
  return {
    async publish(type, data, logger) {
      const notification = buildNotification(type, { ...data, environment }, new Date());
      const messageId = await topic.publishMessage({
        data: Buffer.from(JSON.stringify(notification)),
        attributes: notificationAttributes(notification),
      });
      logger.info({ notification_type: type, notification_id: notification.id, message_id: messageId }, "notified");
    },
  };
}

/**
 * Notifies the result of the conversation's newest extraction generation, if it has one
 * (`done` or `failed`, as the API reports it). Called after a run recorded its result, and
 * again by a duplicate request that finds it answered, so a lost publish is made good.
 */
export async function notifyExtractionResult(
  db: Firestore,
  notifier: Notifier,
  conversationId: string,
  logger: Logger,
): Promise<void> {
  const conversation = (await readConversation(db, conversationId))?.data;
  if (conversation === undefined || isBeingDeleted(conversation)) return;
  const view = lifecycleView(conversation);
  if (!view.extractionCurrent || view.extractionStatus === "pending") return;
  await notifier.publish(
    view.extractionStatus === "done" ? "tether.extraction.done" : "tether.extraction.failed",
    {
      conversation_id: conversationId,
      user_id: conversation.user_id,
      generation: conversation.extraction_generation ?? 0,
      people: (conversation.extraction?.people ?? []).map((p) => ({
        person_id: p.person_id,
        status: p.status,
        ...(p.reason !== undefined ? { reason: p.reason } : {}),
        samples: p.samples,
      })),
    },
    logger,
  );
}
