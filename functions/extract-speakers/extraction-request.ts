/**
 * The edge of the extraction worker: turns a received Pub/Sub message into a request to
 * extract one conversation, or a rejection for the dead-letter topic. Pure; the checks
 * every worker shares (environment first) are functions/read-message.ts's.
 */
import type { EnvironmentName } from "../../shared/environment";
import { type ExtractionAttributes, extractionAttributesSchema, extractionBodySchema } from "../../shared/messages";
import type { ReceivedMessage } from "../../shared/pubsub-event";
import type { Parsed } from "../dead-letter";
import { readJsonMessage } from "../read-message";

export function parseExtractionMessage(
  message: ReceivedMessage,
  environment: EnvironmentName,
): Parsed<{ readonly attributes: ExtractionAttributes }> {
  const read = readJsonMessage(message, environment, {
    name: "extraction",
    attributes: extractionAttributesSchema,
    body: extractionBodySchema,
    bodyReason: "invalid_body",
    disagreement: (attributes, body) =>
      body.conversation_id === attributes.conversation_id
        ? undefined
        : {
            reason: "conversation_mismatch",
            detail: `body names conversation ${body.conversation_id}, attributes name ${attributes.conversation_id}`,
          },
  });
  return read.ok ? { ok: true, attributes: read.attributes } : read;
}
