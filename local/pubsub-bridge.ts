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
 *   still run. The bridge sets each pulled message's deadline to the ack deadline once and
 *   never extends it, so a slow handler sees the same redelivery.
 * - only as fast as the handler takes messages: like a push subscription, it holds no
 *   backlog of its own. It asks the emulator for at most as many messages as it has free
 *   handler slots (synchronous pull, which the emulator answers as soon as messages exist).
 *   A streaming pull would not do: the emulator ignores its flow control and streams the
 *   whole backlog into this process, where the client library buffers it, keeps extending
 *   the leases of messages no handler has seen, and drops them after the extension limit,
 *   so the emulator sends them again (measured at 500 real-time streams: 1,500 messages,
 *   240 MB, held here while 16 were handled).
 */
import type { PubSub, protos, v1 } from "@google-cloud/pubsub";
import { z } from "zod";
import { publishTimeDate, subscriberClientFor } from "../shared/gcp-clients";
import { GrpcStatus, hasGrpcStatus } from "../shared/grpc-error";
import type { Logger } from "../shared/logger";
import { type PubSubHandler, toPubSubCloudEvent } from "../shared/pubsub-event";
import { describeIssue } from "../shared/schema-issues";

export interface Bridge {
  close(): Promise<void>;
}

/** Messages handled at once unless told otherwise. */
export const DEFAULT_MAX_CONCURRENT = 16;
/** Pub/Sub's default ack deadline, for a caller that names none. */
const DEFAULT_ACK_DEADLINE_SECONDS = 10;
/**
 * How long one Pull may wait for messages. The emulator answers a Pull as soon as messages
 * exist, and an empty one a second before its deadline (measured: 1.5 s -> 0.5 s, 3 s -> 2 s),
 * so an idle subscription costs two Pulls a second, and closing waits at most half a second
 * for the one in progress.
 */
const PULL_TIMEOUT_MS = 1500;
/** After a failed pull, the bridge waits this long before the next one. */
const PULL_RETRY_MS = 1000;
/** Acks and nacks are sent together once this many wait, or on the next turn of the event loop. */
const ACK_BATCH = 100;

/** A message as the emulator's Pull answers it: checked here, at the edge. */
const receivedMessageSchema = z.object({
  ackId: z.string().min(1),
  message: z.object({
    messageId: z.string().min(1),
    data: z.custom<Uint8Array>((value) => value instanceof Uint8Array).optional(),
    attributes: z.record(z.string(), z.string()).nullish(),
    publishTime: z.object({ seconds: z.union([z.string(), z.number()]), nanos: z.number().nullish() }).nullish(),
    orderingKey: z.string().nullish(),
  }),
  deliveryAttempt: z.number().int().nullish(),
});
type PulledMessage = z.infer<typeof receivedMessageSchema>;
type PullAnswer = protos.google.pubsub.v1.IPullResponse;

/** The message body as a Buffer, without copying it. */
function asBuffer(data: Uint8Array | undefined): Buffer {
  if (data === undefined) return Buffer.alloc(0);
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

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
  const ackDeadlineSeconds = options.ackDeadlineSeconds ?? DEFAULT_ACK_DEADLINE_SECONDS;
  const slots = options.maxConcurrent ?? DEFAULT_MAX_CONCURRENT;
  const path = `projects/${projectId}/subscriptions/${name}`;
  /** Set once the client is built; the first Pull follows. */
  let client: v1.SubscriberClient | undefined;
  const ready = subscriberClientFor(pubsub).then(
    (built) => {
      client = built;
      pull();
    },
    (error: unknown) =>
      logger.error({ err: error, subscription: name }, "the bridge could not build its Pub/Sub client"),
  );
  const inFlight = new Set<Promise<void>>();
  /** The Pull waiting for messages, if any (one at a time), until its answer is handled. */
  let pulling: Promise<void> | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let closed = false;

  // Acks and nacks (a nack is a deadline of 0: redelivery under the subscription's retry policy).
  const outgoing = { ack: [] as string[], nack: [] as string[] };
  let flushing: Promise<void> = Promise.resolve();
  let flushScheduled = false;
  const flush = (): Promise<void> => {
    flushScheduled = false;
    if (client === undefined) return flushing; // nothing was pulled, so nothing waits
    const ackIds = outgoing.ack.splice(0);
    const nackIds = outgoing.nack.splice(0);
    const sends: Array<Promise<unknown>> = [];
    if (ackIds.length > 0) sends.push(client.acknowledge({ subscription: path, ackIds }));
    if (nackIds.length > 0)
      sends.push(client.modifyAckDeadline({ subscription: path, ackIds: nackIds, ackDeadlineSeconds: 0 }));
    const sent = Promise.all(sends).then(
      () => undefined,
      (error: unknown) =>
        // The messages are delivered again once their deadline passes: nothing is lost.
        logger.warn(
          { err: error, subscription: name, acks: ackIds.length, nacks: nackIds.length },
          "acknowledging pulled messages failed; they will be delivered again",
        ),
    );
    flushing = flushing.then(() => sent);
    return sent;
  };
  const settle = (kind: "ack" | "nack", ackId: string): void => {
    outgoing[kind].push(ackId);
    if (outgoing.ack.length + outgoing.nack.length >= ACK_BATCH) void flush();
    else if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(() => void flush());
    }
  };

  const deliver = async (received: PulledMessage): Promise<void> => {
    const { message } = received;
    const event = toPubSubCloudEvent(
      {
        id: message.messageId,
        data: asBuffer(message.data),
        attributes: message.attributes ?? {},
        ...(message.publishTime ? { publishTime: publishTimeDate(message.publishTime) } : {}),
        ...(message.orderingKey ? { orderingKey: message.orderingKey } : {}),
        ...(received.deliveryAttempt ? { deliveryAttempt: received.deliveryAttempt } : {}),
      },
      projectId,
      topic,
      name,
    );
    try {
      await handler(event);
      settle("ack", received.ackId);
    } catch (error) {
      logger.warn(
        {
          err: error,
          subscription: name,
          message_id: message.messageId,
          delivery_attempt: received.deliveryAttempt ?? undefined,
          conversation_id: message.attributes?.conversation_id,
        },
        "worker failed; message will be redelivered",
      );
      settle("nack", received.ackId);
    }
  };

  const start = (received: PulledMessage): void => {
    const done = deliver(received).finally(() => {
      inFlight.delete(done);
      pull();
    });
    inFlight.add(done);
  };

  /** The messages of a Pull's answer that pass the schema; the others are logged and left to redelivery. */
  const checked = (answer: PullAnswer): PulledMessage[] => {
    const valid: PulledMessage[] = [];
    for (const raw of answer.receivedMessages ?? []) {
      const parsed = receivedMessageSchema.safeParse(raw);
      if (parsed.success) valid.push(parsed.data);
      else {
        logger.error(
          {
            subscription: name,
            problem: describeIssue(parsed.error),
            message_id: raw.message?.messageId,
            conversation_id: raw.message?.attributes?.conversation_id ?? null,
          },
          "pulled message malformed; left for redelivery",
        );
      }
    }
    return valid;
  };

  const received = (current: v1.SubscriberClient, answer: PullAnswer): void => {
    const valid = checked(answer);
    if (closed) {
      // Closing while the Pull waited: what it brought goes back at once.
      for (const message of valid) settle("nack", message.ackId);
      return;
    }
    if (valid.length > 0) {
      // One deadline for the whole delivery, never extended (see the top of this file).
      current
        .modifyAckDeadline({ subscription: path, ackIds: valid.map((m) => m.ackId), ackDeadlineSeconds })
        .catch((error: unknown) =>
          logger.warn({ err: error, subscription: name }, "setting the ack deadline of pulled messages failed"),
        );
    }
    for (const message of valid) start(message);
    pull();
  };

  const pullFailed = (error: unknown): void => {
    if (closed) return;
    // A Pull that found nothing before its deadline is an empty answer, not a failure.
    if (hasGrpcStatus(error, GrpcStatus.DEADLINE_EXCEEDED)) {
      pull();
      return;
    }
    logger.warn({ err: error, subscription: name }, "pull from the subscription failed; retrying");
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      pull();
    }, PULL_RETRY_MS);
  };

  /** Asks for as many messages as there are free slots, unless a Pull already waits. */
  const pull = (): void => {
    const current = client;
    if (current === undefined || closed || pulling !== undefined || retryTimer !== undefined) return;
    const free = slots - inFlight.size;
    if (free <= 0) return;
    pulling = current.pull({ subscription: path, maxMessages: free }, { timeout: PULL_TIMEOUT_MS, maxRetries: 0 }).then(
      ([answer]) => {
        pulling = undefined;
        received(current, answer);
      },
      (error: unknown) => {
        pulling = undefined;
        pullFailed(error);
      },
    );
  };
  return {
    async close() {
      closed = true;
      await ready;
      clearTimeout(retryTimer);
      // A waiting Pull cannot be called off: the emulator would still hand it the next
      // messages, leased to nobody until their deadline. It ends within PULL_TIMEOUT_MS.
      await pulling;
      await Promise.allSettled([...inFlight]);
      await flush();
      await flushing;
      await client?.close();
    },
  };
}
