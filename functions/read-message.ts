/**
 * The checks every worker's message parser starts with: the environment attribute first,
 * then the attributes against their schema, then (for a JSON body) the body. Each step that fails
 * becomes a rejection naming what is wrong, for the dead-letter topic; last, a fact both
 * the attributes and the body state must agree. Pure.
 *
 * The environment attribute is checked before anything else, so another environment's
 * message is refused as `wrong_environment` even when the rest of it is also broken.
 */
import type { z } from "zod";
import type { EnvironmentName } from "../shared/environment";
import type { ReceivedMessage } from "../shared/pubsub-event";
import { describeIssues } from "../shared/schema-issues";
import type { Parsed, Rejection, RejectionReason } from "./dead-letter";

/** Rejects a message whose `environment` attribute is not `environment`. */
export function checkEnvironment(message: ReceivedMessage, environment: EnvironmentName): Rejection | undefined {
  const tagged = message.attributes.environment;
  if (tagged === environment) return undefined;
  return {
    reason: "wrong_environment",
    detail:
      tagged === undefined
        ? `message has no environment attribute; this worker serves ${environment}`
        : `message is tagged environment=${JSON.stringify(tagged.slice(0, 64))}, but this worker serves ${environment}`,
  };
}

/** The environment, then the attributes (`invalid_schema` when they break `schema`). */
export function readAttributes<S extends z.ZodType>(
  message: ReceivedMessage,
  environment: EnvironmentName,
  schema: S,
  /** Names the message in rejections, e.g. `audio chunk`. */
  name: string,
): Parsed<{ readonly attributes: z.output<S> }> {
  const wrongEnvironment = checkEnvironment(message, environment);
  if (wrongEnvironment) return { ok: false, rejection: wrongEnvironment };
  const attributes = schema.safeParse(message.attributes);
  if (!attributes.success) {
    return {
      ok: false,
      rejection: {
        reason: "invalid_schema",
        detail: `invalid ${name} attributes: ${describeIssues(attributes.error)}`,
      },
    };
  }
  return { ok: true, attributes: attributes.data };
}

/** What a message with a JSON body is checked against. */
export interface JsonMessageShape<A extends z.ZodType, B extends z.ZodType> {
  /** Names the message in rejections, e.g. `event`. */
  readonly name: string;
  readonly attributes: A;
  readonly body: B;
  /** The reason a body that is not JSON or breaks `body` is refused with. */
  readonly bodyReason: RejectionReason;
  /** Where body and attributes both state a fact: the rejection when they disagree. */
  readonly disagreement?: (attributes: z.output<A>, body: z.output<B>) => Rejection | undefined;
}

/** `readAttributes`, then the body as JSON against its schema. */
export function readJsonMessage<A extends z.ZodType, B extends z.ZodType>(
  message: ReceivedMessage,
  environment: EnvironmentName,
  shape: JsonMessageShape<A, B>,
): Parsed<{ readonly attributes: z.output<A>; readonly body: z.output<B> }> {
  const attributes = readAttributes(message, environment, shape.attributes, shape.name);
  if (!attributes.ok) return attributes;
  let json: unknown;
  try {
    json = JSON.parse(message.data.toString("utf8"));
  } catch {
    return { ok: false, rejection: { reason: shape.bodyReason, detail: `${shape.name} body is not JSON` } };
  }
  const body = shape.body.safeParse(json);
  if (!body.success) {
    return {
      ok: false,
      rejection: { reason: shape.bodyReason, detail: `invalid ${shape.name} body: ${describeIssues(body.error)}` },
    };
  }
  const disagreement = shape.disagreement?.(attributes.attributes, body.data);
  if (disagreement) return { ok: false, rejection: disagreement };
  return { ok: true, attributes: attributes.attributes, body: body.data };
}
