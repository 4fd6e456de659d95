/**
 * The local stand-in for a push subscription: pulls from an emulator subscription and
 * invokes a worker's CloudEvent handler with the event Cloud Functions would deliver.
 *
 * It delivers the way the deployed push subscription does:
 * - concurrently: every pulled message goes to the handler at once (up to `maxConcurrent`
 *   in flight, as a function scales out to several instances), whatever its ordering key;
 * - unordered: the handler gets no ordering guarantee from the bridge, and the deployed
 *   subscriptions are not ordered (shared/pipeline.ts);
 * - with redelivery: success acks; a thrown error nacks, so the subscription's retry
 *   backoff applies, as for a push that answers 5xx;
 * - with the ack deadline as a time limit: a push request that outlives the subscription's
 *   ack deadline is given up on and the message delivered again while the first handler may
 *   still run. The bridge leases each message in steps of the ack deadline and stops
 *   extending once the ack deadline has passed (so a lease ends between one and two ack
 *   deadlines after receipt, never indefinitely): a slow handler sees the same redelivery.
 */
import { Duration, type Message, type PubSub, type Subscription } from "@google-cloud/pubsub";
import type { Logger } from "../shared/logger";
import { type PubSubHandler, toPubSubCloudEvent } from "../shared/pubsub-event";

export interface Bridge {
  close(): Promise<void>;
}

/** Messages handled at once unless told otherwise. */
export const DEFAULT_MAX_CONCURRENT = 16;
/** Pub/Sub's default ack deadline, for a caller that names none. */
const DEFAULT_ACK_DEADLINE_SECONDS = 10;

export function bridgeSubscription(options: {
  pubsub: PubSub;
  projectId: string;
  topic: string;
  subscription: string;
  handler: PubSubHandler;
  logger: Logger;
  maxConcurrent?: number;
  /** The subscription's ack deadline (shared/pipeline.ts): how long one delivery may take. */
  ackDeadlineSeconds?: number;
}): Bridge {
  const { pubsub, projectId, topic, subscription: name, handler, logger } = options;
  const deadline = Duration.from({ seconds: options.ackDeadlineSeconds ?? DEFAULT_ACK_DEADLINE_SECONDS });
  const subscription: Subscription = pubsub.subscription(name, {
    flowControl: { maxMessages: options.maxConcurrent ?? DEFAULT_MAX_CONCURRENT, allowExcessMessages: false },
    minAckDeadline: deadline,
    maxAckDeadline: deadline,
    maxExtensionTime: deadline,
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
