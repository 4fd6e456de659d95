import { Writable } from "node:stream";
import { conversationLogger, createLogger } from "../../shared/logger";

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
