/** The extraction request message (functions/extract-speakers/extraction-request.ts): environment first, then schema. */
import { parseExtractionMessage } from "../../functions/extract-speakers/extraction-request";
import { parseEnvironmentName } from "../../shared/environment";
import type { ReceivedMessage } from "../../shared/pubsub-event";

const staging = parseEnvironmentName("staging");

function message(attributes: Record<string, string>, body: unknown): ReceivedMessage {
  return {
    id: "m1",
    data: Buffer.from(typeof body === "string" ? body : JSON.stringify(body)),
    attributes,
    publishTime: undefined,
    orderingKey: undefined,
    deliveryAttempt: undefined,
  };
}

const good = { schema_version: "1", environment: "staging", conversation_id: "conv-12345678", reason: "finalized" };

describe("parseExtractionMessage", () => {
  it("accepts a well-formed request of this environment", () => {
    expect(parseExtractionMessage(message(good, { conversation_id: "conv-12345678" }), staging)).toEqual({
      ok: true,
      attributes: good,
    });
  });

  it("refuses another environment's request before anything else", () => {
    const parsed = parseExtractionMessage(message({ ...good, environment: "prod", schema_version: "9" }, "{"), staging);
    expect(parsed).toMatchObject({ ok: false, rejection: { reason: "wrong_environment" } });
  });

  it.each([
    ["an unknown reason", { ...good, reason: "because" }, { conversation_id: "conv-12345678" }, "invalid_schema"],
    ["a bad schema version", { ...good, schema_version: "2" }, { conversation_id: "conv-12345678" }, "invalid_schema"],
    ["a body that is not JSON", good, "not json", "invalid_body"],
    ["a body without the id", good, {}, "invalid_body"],
    ["a body naming another conversation", good, { conversation_id: "conv-87654321" }, "conversation_mismatch"],
  ])("refuses %s", (_name, attributes, body, reason) => {
    expect(parseExtractionMessage(message(attributes, body), staging)).toMatchObject({
      ok: false,
      rejection: { reason },
    });
  });
});
