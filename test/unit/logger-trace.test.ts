/**
 * The conversation-scoped Cloud Logging trace: derived from environment and conversation
 * id alone (so every service computes the same), carried by every conversation logger
 * that descends from an environment's logger.
 */
import {
  conversationLogger,
  conversationTrace,
  conversationTraceId,
  environmentLogger,
  TRACE_FIELD,
} from "../../shared/logger";
import { captureLogs } from "../support/workers-logs";

describe("conversation trace", () => {
  it("is 32 hex characters, stable for one conversation and different across environments and conversations", () => {
    const id = conversationTraceId("staging", "c-12345678");
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(conversationTraceId("staging", "c-12345678")).toBe(id);
    expect(conversationTraceId("prod", "c-12345678")).not.toBe(id);
    expect(conversationTraceId("staging", "c-12345679")).not.toBe(id);
    expect(conversationTrace("acme-voice", "staging", "c-12345678")).toBe(`projects/acme-voice/traces/${id}`);
  });

  it("is on every line of a conversation logger built from an environment's logger, however deep", () => {
    const logs = captureLogs();
    const component = environmentLogger(logs.logger, { environment: "staging", projectId: "acme-voice" }).child({
      component: "ingress",
    });
    const conversation = conversationLogger(component, { conversation_id: "c-1", environment: "staging" });
    conversation.child({ session_id: "s-1" }).info("socket ready");
    component.info({ conversation_id: null }, "ingress started");
    expect(logs.lines.map((l) => [l.message, l[TRACE_FIELD]])).toEqual([
      ["socket ready", `projects/acme-voice/traces/${conversationTraceId("staging", "c-1")}`],
      ["ingress started", undefined],
    ]);
  });

  it("is left out where the project is unknown (a logger not built by an environment)", () => {
    const logs = captureLogs();
    conversationLogger(logs.logger, { conversation_id: "c-1", environment: "staging" }).info("x");
    expect(logs.lines[0]).not.toHaveProperty(TRACE_FIELD);
  });
});
