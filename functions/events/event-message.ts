/**
 * The edge of the events worker: a received message becomes a validated conversation
 * event, or a rejection. Pure, like the audio worker's edge.
 */
import type { EnvironmentName } from "../../shared/environment";
import { type EventAttributes, type EventBody, eventAttributesSchema, eventBodySchema } from "../../shared/messages";
import type { ReceivedMessage } from "../../shared/pubsub-event";
import type { Parsed } from "../dead-letter";
import { readJsonMessage } from "../read-message";

/** `attributes.session_ordinal` and `attributes.seq` make the revision of what it writes. */
export interface ConversationEvent {
  readonly attributes: EventAttributes;
  readonly body: EventBody;
}

export function parseEventMessage(
  message: ReceivedMessage,
  environment: EnvironmentName,
): Parsed<{ readonly event: ConversationEvent }> {
  const read = readJsonMessage(message, environment, {
    name: "event",
    attributes: eventAttributesSchema,
    body: eventBodySchema,
    bodyReason: "invalid_schema",
    disagreement: (attributes, body) =>
      body.type === attributes.event_type
        ? undefined
        : {
            reason: "invalid_schema",
            detail: `event_type attribute ${attributes.event_type} does not match body type ${body.type}`,
          },
  });
  return read.ok ? { ok: true, event: { attributes: read.attributes, body: read.body } } : read;
}
