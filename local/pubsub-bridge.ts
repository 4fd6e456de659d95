/**
 * The local stand-in for a Pub/Sub trigger: pulls from an emulator subscription and
 * invokes a worker's CloudEvent handler with the event Cloud Functions would deliver.
 * Success acks; a thrown error nacks, so the subscription's retry and dead-letter policy
 * apply exactly as they do in Google Cloud.
 */
import type { Message, PubSub, Subscription } from "@google-cloud/pubsub";
import type { Logger } from "../shared/logger";
import { type PubSubHandler, toPubSubCloudEvent } from "../shared/pubsub-event";

export interface Bridge {
  close(): Promise<void>;
}

export function bridgeSubscription(options: {
  pubsub: PubSub;
  projectId: string;
  topic: string;
  subscription: string;
  handler: PubSubHandler;
  logger: Logger;
  maxConcurrent?: number;
}): Bridge {
  const { pubsub, projectId, topic, subscription: name, handler, logger } = options;
  const subscription: Subscription = pubsub.subscription(name, {
    flowControl: { maxMessages: options.maxConcurrent ?? 16, allowExcessMessages: false },
  });
  const inFlight = new Set<Promise<void>>();

  const deliver = async (message: Message): Promise<void> => {
    const event = toPubSubCloudEvent(
      {
        id: message.id,
        data: message.data,
        attributes: message.attributes,
        publishTime: new Date(message.publishTime.getTime()),
        ...(message.orderingKey ? { orderingKey: message.orderingKey } : {}),
        ...(message.deliveryAttempt ? { deliveryAttempt: message.deliveryAttempt } : {}),
      },
      projectId,
      topic,
      name,
    );
    try {
      await handler(event);
      message.ack();
    } catch (error) {
      logger.warn(
        {
          err: error,
          subscription: name,
          message_id: message.id,
          delivery_attempt: message.deliveryAttempt,
          conversation_id: message.attributes.conversation_id,
        },
        "worker failed; message will be redelivered",
      );
      message.nack();
    }
  };

  subscription.on("message", (message: Message) => {
    const done = deliver(message).finally(() => inFlight.delete(done));
    inFlight.add(done);
  });
  subscription.on("error", (error: Error) => {
    logger.error({ err: error, subscription: name }, "subscription stream error");
  });

  return {
    async close() {
      await subscription.close();
      await Promise.allSettled([...inFlight]);
    },
  };
}
