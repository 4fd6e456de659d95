/**
 * The edge of the extraction worker: turns a received Pub/Sub message into a request to
 * extract one conversation, or a rejection for the dead-letter topic. Pure.
 *
 * The environment attribute is checked before anything else, so another environment's
 * message is refused as `wrong_environment` even when the rest of it is also broken.
 */
import type { EnvironmentName } from "../../shared/environment";
import { type ExtractionAttributes, extractionAttributesSchema, extractionBodySchema } from "../../shared/messages";
import type { ReceivedMessage } from "../../shared/pubsub-event";
import { describeIssues } from "../../shared/schema-issues";
import { checkEnvironment, type Rejection } from "../dead-letter";

export type ParsedExtractionRequest =
  | { readonly ok: true; readonly attributes: ExtractionAttributes }
  | { readonly ok: false; readonly rejection: Rejection };

export function parseExtractionMessage(
  message: ReceivedMessage,
  environment: EnvironmentName,
): ParsedExtractionRequest {
  const wrongEnvironment = checkEnvironment(message, environment);
  if (wrongEnvironment) return { ok: false, rejection: wrongEnvironment };
  const attributes = extractionAttributesSchema.safeParse(message.attributes);
  if (!attributes.success) {
    return {
      ok: false,
      rejection: {
        reason: "invalid_schema",
        detail: `invalid extraction attributes: ${describeIssues(attributes.error)}`,
      },
    };
  }
  let json: unknown;
  try {
    json = JSON.parse(message.data.toString("utf8"));
  } catch {
    return { ok: false, rejection: { reason: "invalid_body", detail: "extraction request body is not JSON" } };
  }
  const body = extractionBodySchema.safeParse(json);
  if (!body.success) {
    return {
      ok: false,
      rejection: { reason: "invalid_body", detail: `invalid extraction body: ${describeIssues(body.error)}` },
    };
  }
  if (body.data.conversation_id !== attributes.data.conversation_id) {
    return {
      ok: false,
      rejection: {
        reason: "conversation_mismatch",
        detail: `body names conversation ${body.data.conversation_id}, attributes name ${attributes.data.conversation_id}`,
      },
    };
  }
  return { ok: true, attributes: attributes.data };
}
