/**
 * The edge of the events worker: a received message becomes a validated conversation
 * event, or a rejection. Pure, like the audio worker's edge.
 */
import type { EnvironmentName } from "../../shared/environment";
import { type EventAttributes, type EventBody, eventAttributesSchema, eventBodySchema } from "../../shared/messages";
import type { ReceivedMessage } from "../../shared/pubsub-event";
import { checkEnvironment, describeIssues, type Rejection } from "../dead-letter";

export interface ConversationEvent {
  readonly attributes: EventAttributes;
  readonly body: EventBody;
  /**
   * When Pub/Sub accepted the event (ms since the epoch): the version of whatever the
   * event writes, so a redelivered older event never overwrites a newer one.
   */
  readonly publishedAtMs: number;
}

export type ParsedEvent =
  | { readonly ok: true; readonly event: ConversationEvent }
  | { readonly ok: false; readonly rejection: Rejection };

/**
 * Pub/Sub always stamps `publishTime`; without one (a hand-made event) the event counts as
 * published now, i.e. newer than anything stored.
 */
export function publishedAtMs(publishTime: string | undefined, now: () => number = Date.now): number {
  const parsed = publishTime === undefined ? Number.NaN : Date.parse(publishTime);
  return Number.isFinite(parsed) ? parsed : now();
}

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
    event: { attributes: attributes.data, body: body.data, publishedAtMs: publishedAtMs(message.publishTime) },
  };
}
