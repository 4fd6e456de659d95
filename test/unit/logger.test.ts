/**
 * Structured logging (shared/logger.ts): Cloud Logging's fields and severities, and the
 * conversation-scoped trace every service computes alike.
 */
import { Writable } from "node:stream";
import {
  conversationLogger,
  conversationTrace,
  conversationTraceId,
  createLogger,
  environmentLogger,
  TRACE_FIELD,
} from "../../shared/logger";
import { captureLogs } from "../support/workers-logs";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, destination };
}

describe("structured logging", () => {
  it("writes Cloud Logging fields: severity, message, and the conversation's ids", () => {
    const { lines, destination } = capture();
    const logger = createLogger({ level: "info", destination });
    conversationLogger(logger, { conversation_id: "c-12345678", environment: "staging" }).warn(
      { reason: "bad_audio" },
      "frame rejected",
    );
    expect(lines).toEqual([
      expect.objectContaining({
        severity: "WARNING",
        message: "frame rejected",
        conversation_id: "c-12345678",
        environment: "staging",
        reason: "bad_audio",
      }),
    ]);
    expect(lines[0]).not.toHaveProperty("level");
  });

  it("maps every level to a Cloud Logging severity", () => {
    const { lines, destination } = capture();
    const logger = createLogger({ level: "trace", destination });
    logger.trace("t");
    logger.debug("d");
    logger.info("i");
    logger.error("e");
    logger.fatal("f");
    expect(lines.map((l) => l.severity)).toEqual(["DEBUG", "DEBUG", "INFO", "ERROR", "CRITICAL"]);
  });
});

/*
 * The conversation-scoped Cloud Logging trace: derived from environment and conversation
 * id alone (so every service computes the same), carried by every conversation logger
 * that descends from an environment's logger.
 */
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
