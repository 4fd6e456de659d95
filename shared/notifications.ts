/**
 * The lifecycle notifications of PROTOCOL section 3: CloudEvents 1.0 (JSON, structured
 * mode) on each environment's `notifications` topic, one per lifecycle step of a
 * conversation, so an app backend subscribes instead of polling.
 *
 * Delivery is at least once (a step's publisher may publish again after a crash or a
 * redelivery), so the event `id` is deterministic per step: the conversation, the type and,
 * for extraction, the generation. A consumer that dedupes by `id` sees each step once.
 */
import { z } from "zod";
import { type EnvironmentName, environmentNameSchema } from "./environment";

export const NOTIFICATION_TYPES = [
  "tether.conversation.finalized",
  "tether.extraction.done",
  "tether.extraction.failed",
  "tether.conversation.deleted",
] as const;
export type NotificationType = (typeof NOTIFICATION_TYPES)[number];

export const notificationPersonSchema = z.object({
  person_id: z.string(),
  status: z.string(),
  reason: z.string().optional(),
  samples: z.number().int().min(0),
});
export type NotificationPerson = z.infer<typeof notificationPersonSchema>;

export const notificationDataSchema = z.object({
  conversation_id: z.string().min(1),
  user_id: z.string().min(1),
  environment: environmentNameSchema,
  /** With extraction: every person of the run, with their status. */
  people: z.array(notificationPersonSchema).optional(),
  /** With extraction: the generation the result belongs to. */
  generation: z.number().int().min(1).optional(),
  /** With deleted: why (`request`, `retention`). */
  reason: z.string().optional(),
});
export type NotificationData = z.infer<typeof notificationDataSchema>;

export const notificationSchema = z
  .object({
    specversion: z.literal("1.0"),
    id: z.string().min(1),
    source: z.string().min(1),
    type: z.enum(NOTIFICATION_TYPES),
    subject: z.string().min(1),
    time: z.string(),
    datacontenttype: z.literal("application/json"),
    data: notificationDataSchema,
  })
  .loose();
export type Notification = z.infer<typeof notificationSchema>;

/** The event `id` of one lifecycle step: the same on every publish of that step. */
export function notificationId(type: NotificationType, conversationId: string, generation?: number): string {
  switch (type) {
    case "tether.conversation.finalized":
      return `${conversationId}/finalized`;
    case "tether.conversation.deleted":
      return `${conversationId}/deleted`;
    // Done and failed are two answers of one step: a generation has one result.
    case "tether.extraction.done":
    case "tether.extraction.failed":
      return `${conversationId}/extraction/${generation ?? 0}`;
  }
}

/** The CloudEvent `source` of an environment. */
export function notificationSource(environment: EnvironmentName): string {
  return `//tether/environments/${environment}`;
}

/** One notification. Pure: `time` is the caller's. */
export function buildNotification(type: NotificationType, data: NotificationData, time: Date): Notification {
  return {
    specversion: "1.0",
    id: notificationId(type, data.conversation_id, data.generation),
    source: notificationSource(data.environment),
    type,
    subject: data.conversation_id,
    time: time.toISOString(),
    datacontenttype: "application/json",
    data,
  };
}

/**
 * The Pub/Sub attributes a notification is published with, so a subscription can filter on
 * them (`attributes.type = "tether.extraction.done"`) without reading the body.
 */
export function notificationAttributes(notification: Notification): Record<string, string> {
  return {
    "ce-specversion": notification.specversion,
    "ce-id": notification.id,
    "ce-type": notification.type,
    "ce-source": notification.source,
    "ce-subject": notification.subject,
    environment: notification.data.environment,
    conversation_id: notification.data.conversation_id,
  };
}
