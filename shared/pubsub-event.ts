/**
 * Pub/Sub messages as the workers receive them: a CloudEvent of type
 * `google.cloud.pubsub.topic.v1.messagePublished`, the shape Eventarc and the functions
 * framework's push conversion both produce. The body is validated here, at the edge.
 */
import type { CloudEvent } from "@google-cloud/functions-framework";
import { z } from "zod";
import { describeIssue } from "./schema-issues";

export const MESSAGE_PUBLISHED_TYPE = "google.cloud.pubsub.topic.v1.messagePublished";

export const messagePublishedDataSchema = z.object({
  message: z.object({
    data: z.string().optional(),
    attributes: z.record(z.string(), z.string()).optional(),
    messageId: z.string().optional(),
    message_id: z.string().optional(),
    publishTime: z.string().optional(),
    orderingKey: z.string().optional(),
  }),
  subscription: z.string().optional(),
  deliveryAttempt: z.number().int().optional(),
});

export type MessagePublishedData = z.infer<typeof messagePublishedDataSchema>;

/** A decoded Pub/Sub message. */
export interface ReceivedMessage {
  readonly id: string;
  readonly data: Buffer;
  readonly attributes: Readonly<Record<string, string>>;
  readonly publishTime: string | undefined;
  readonly orderingKey: string | undefined;
  /** Set when the subscription has a dead-letter policy. */
  readonly deliveryAttempt: number | undefined;
}

/** What every worker exports: a CloudEvent function over a Pub/Sub message. */
export type PubSubHandler = (event: CloudEvent<unknown>) => Promise<void>;

export class MalformedEventError extends Error {
  override name = "MalformedEventError";
}

/** Decodes a messagePublished CloudEvent; throws `MalformedEventError` on a bad envelope. */
export function decodePubSubEvent(event: CloudEvent<unknown>): ReceivedMessage {
  const parsed = messagePublishedDataSchema.safeParse(event.data);
  if (!parsed.success) {
    throw new MalformedEventError(`not a Pub/Sub messagePublished event: ${describeIssue(parsed.error)}`);
  }
  const { message, deliveryAttempt } = parsed.data;
  return {
    id: message.messageId ?? message.message_id ?? event.id,
    data: Buffer.from(message.data ?? "", "base64"),
    attributes: message.attributes ?? {},
    publishTime: message.publishTime,
    orderingKey: message.orderingKey,
    deliveryAttempt,
  };
}

/** Builds the CloudEvent a Pub/Sub trigger would deliver (used by the local pull adapter and tests). */
export function toPubSubCloudEvent(
  message: {
    id: string;
    data: Buffer;
    attributes: Record<string, string>;
    publishTime?: Date;
    orderingKey?: string;
    deliveryAttempt?: number;
  },
  projectId: string,
  topic: string,
  subscription: string,
): CloudEvent<MessagePublishedData> {
  const publishTime = (message.publishTime ?? new Date()).toISOString();
  return {
    specversion: "1.0",
    id: message.id,
    type: MESSAGE_PUBLISHED_TYPE,
    source: `//pubsub.googleapis.com/projects/${projectId}/topics/${topic}`,
    time: publishTime,
    datacontenttype: "application/json",
    data: {
      message: {
        data: message.data.toString("base64"),
        attributes: message.attributes,
        messageId: message.id,
        publishTime,
        ...(message.orderingKey ? { orderingKey: message.orderingKey } : {}),
      },
      subscription: `projects/${projectId}/subscriptions/${subscription}`,
      ...(message.deliveryAttempt !== undefined ? { deliveryAttempt: message.deliveryAttempt } : {}),
    },
  };
}
