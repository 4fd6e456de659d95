/**
 * Messages a worker can never process: another environment's, a broken schema, a chunk
 * that contradicts what is stored, data the store refuses. They are not retried (retrying
 * cannot fix them) and not acked away: the original bytes and attributes go to the
 * environment's dead-letter topic, tagged with why, and an error line is logged. Operators
 * list and replay them (`npm run dead-letters`).
 *
 * Transient failures are never dead-lettered: a message the ingress acknowledged to its
 * client is retried for as long as the failure lasts (the worker subscriptions have no
 * dead-letter policy of their own).
 *
 * The checks every worker runs first are functions/read-message.ts's.
 */
import type { CloudEvent } from "@google-cloud/functions-framework";
import type { Topic } from "@google-cloud/pubsub";
import { type Logger, publishFailed } from "../shared/logger";
import { type ComponentKey, workerName } from "../shared/pipeline";
import { decodePubSubEvent, type ReceivedMessage } from "../shared/pubsub-event";
import type { DeliveryRecorder } from "./delivery-record";
import type { EnvironmentRuntime } from "./runtime";

export const REJECTION_REASONS = [
  "malformed_event",
  "wrong_environment",
  "invalid_schema",
  "invalid_body",
  "conversation_mismatch",
  "chunk_conflict",
  "beyond_final_position",
  /** The database or bucket refused the data for good (e.g. an id it reserves). */
  "store_refused",
] as const;

export type RejectionReason = (typeof REJECTION_REASONS)[number];

export interface Rejection {
  readonly reason: RejectionReason;
  /** A human sentence naming what is wrong. */
  readonly detail: string;
}

/** A message that is not even a Pub/Sub event, kept whole for the dead-letter topic. */
export function undecodableMessage(event: CloudEvent<unknown>): ReceivedMessage {
  return {
    id: event.id,
    data: Buffer.from(JSON.stringify(event.data ?? null)),
    attributes: {},
    publishTime: event.time,
    orderingKey: undefined,
    deliveryAttempt: undefined,
  };
}

/** Pub/Sub caps attribute values at 1024 bytes. */
const MAX_ATTRIBUTE_CHARS = 1000;

/** The attributes a dead-lettered message carries: the original ones plus why and where. */
export function deadLetterAttributes(
  message: ReceivedMessage,
  rejection: Rejection,
  rejectedBy: string,
): Record<string, string> {
  return {
    ...message.attributes,
    rejection_reason: rejection.reason,
    rejection_detail: rejection.detail.slice(0, MAX_ATTRIBUTE_CHARS),
    rejected_by: rejectedBy,
    original_message_id: message.id,
  };
}

/** An untrusted attribute, shortened for a log line. */
function quoted(value: string | undefined): string | undefined {
  return value === undefined ? undefined : value.slice(0, 128);
}

export interface DeadLetterer {
  /** Publishes the message to the dead-letter topic and logs an error; throws if publishing fails. */
  reject(message: ReceivedMessage, rejection: Rejection): Promise<void>;
}

/** `deliveries` records each dead letter against its conversation, for its history. */
export function createDeadLetterer(
  runtime: EnvironmentRuntime,
  component: ComponentKey,
  deliveries: DeliveryRecorder,
): DeadLetterer {
  const rejectedBy = workerName(component);
  const topic: Topic = runtime.clients.pubsub.topic(runtime.resources.topics.deadLetter);
  const logger: Logger = runtime.logger;
  return {
    async reject(message, rejection) {
      const fields = {
        // The runtime logger already carries this worker's `environment`.
        conversation_id: quoted(message.attributes.conversation_id) ?? "unknown",
        message_environment: quoted(message.attributes.environment),
        message_id: message.id,
        rejection_reason: rejection.reason,
        rejection_detail: rejection.detail,
        dead_letter_topic: runtime.resources.topics.deadLetter,
      };
      let deadLetterId: string;
      try {
        // Pub/Sub refuses a message with neither data nor attributes; ours always has attributes.
        deadLetterId = await topic.publishMessage({
          data: message.data,
          attributes: deadLetterAttributes(message, rejection, rejectedBy),
        });
      } catch (error) {
        logger.error(
          { ...fields, ...publishFailed("deadLetter"), err: error },
          "message rejected, but dead-lettering failed; it will be redelivered",
        );
        throw error;
      }
      logger.error({ ...fields, dead_letter_message_id: deadLetterId }, `message rejected: ${rejection.detail}`);
      // For the conversation's history (nothing is written for another environment's conversation).
      const chunkIndex = Number(message.attributes.chunk_index);
      await deliveries.record(
        message.attributes.conversation_id,
        message.id,
        {
          kind: "dead_lettered",
          worker: rejectedBy,
          reason: rejection.reason,
          detail: rejection.detail.slice(0, MAX_ATTRIBUTE_CHARS),
          ...(Number.isSafeInteger(chunkIndex) && chunkIndex >= 0 ? { chunk_index: chunkIndex } : {}),
        },
        logger.child({ conversation_id: fields.conversation_id }),
      );
    },
  };
}

/** What a worker's message parser returns: the typed message, or why it is refused. */
export type Parsed<T> = ({ readonly ok: true } & T) | { readonly ok: false; readonly rejection: Rejection };

/**
 * How every worker receives a message: decode the Pub/Sub CloudEvent and parse the message, or
 * dead-letter it. Resolves `undefined` when the message was refused (and is to be acked).
 */
export async function receiveOrDeadLetter<T>(
  event: CloudEvent<unknown>,
  deadLetters: DeadLetterer,
  parse: (message: ReceivedMessage) => Parsed<T>,
  /** Runs after a refused message was dead-lettered (e.g. to record it against its conversation). */
  onRejected?: (message: ReceivedMessage, rejection: Rejection) => Promise<void>,
): Promise<{ message: ReceivedMessage; parsed: { readonly ok: true } & T } | undefined> {
  let message: ReceivedMessage;
  try {
    message = decodePubSubEvent(event);
  } catch (error) {
    await deadLetters.reject(undecodableMessage(event), {
      reason: "malformed_event",
      detail: (error as Error).message,
    });
    return undefined;
  }
  const parsed = parse(message);
  if (!parsed.ok) {
    await deadLetters.reject(message, parsed.rejection);
    await onRejected?.(message, parsed.rejection);
    return undefined;
  }
  return { message, parsed };
}
