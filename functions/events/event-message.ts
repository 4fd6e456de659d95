/**
 * The edge of the events worker: a received message becomes a validated conversation
 * event, or a rejection. Pure, like the audio worker's edge.
 */
import type { EnvironmentName } from "../../shared/environment";
import { type EventAttributes, type EventBody, eventAttributesSchema, eventBodySchema } from "../../shared/messages";
import type { ReceivedMessage } from "../../shared/pubsub-event";
import { describeIssues } from "../../shared/schema-issues";
import { checkEnvironment, type Rejection } from "../dead-letter";

/** `attributes.session_ordinal` and `attributes.seq` make the revision of what it writes. */
export interface ConversationEvent {
  readonly attributes: EventAttributes;
  readonly body: EventBody;
}

export type ParsedEvent =
  | { readonly ok: true; readonly event: ConversationEvent }
  | { readonly ok: false; readonly rejection: Rejection };

export function parseEventMessage(message: ReceivedMessage, environment: EnvironmentName): ParsedEvent {
  const wrongEnvironment = checkEnvironment(message, environment);
  if (wrongEnvironment) return { ok: false, rejection: wrongEnvironment };
  const attributes = eventAttributesSchema.safeParse(message.attributes);
  if (!attributes.success) {
    return {
      ok: false,
      rejection: { reason: "invalid_schema", detail: `invalid event attributes: ${describeIssues(attributes.error)}` },
    };
  }
  let json: unknown;
  try {
    json = JSON.parse(message.data.toString("utf8"));
  } catch {
    return { ok: false, rejection: { reason: "invalid_schema", detail: "event body is not JSON" } };
  }
  const body = eventBodySchema.safeParse(json);
  if (!body.success) {
    return {
      ok: false,
      rejection: { reason: "invalid_schema", detail: `invalid event body: ${describeIssues(body.error)}` },
    };
  }
  if (body.data.type !== attributes.data.event_type) {
    return {
      ok: false,
      rejection: {
        reason: "invalid_schema",
        detail: `event_type attribute ${attributes.data.event_type} does not match body type ${body.data.type}`,
      },
    };
  }
  return {
    ok: true,
    event: { attributes: attributes.data, body: body.data },
  };
}
