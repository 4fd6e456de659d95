/**
 * Structured logs that Cloud Logging understands: one JSON object a line, with
 * `severity`, `message`, `time`, and `conversation_id` / `environment` when known.
 * https://cloud.google.com/logging/docs/structured-logging
 */
import pino, { type DestinationStream, type Logger } from "pino";

export type { Logger } from "pino";

/** pino level -> Cloud Logging LogSeverity. */
const SEVERITY: Record<string, string> = {
  trace: "DEBUG",
  debug: "DEBUG",
  info: "INFO",
  warn: "WARNING",
  error: "ERROR",
  fatal: "CRITICAL",
};

export interface LoggerOptions {
  level?: string;
  /** Where lines go; stdout when omitted. Tests pass a stream to read them back. */
  destination?: DestinationStream;
  /** Fields on every line, e.g. `{ environment: "staging", component: "ingress" }`. */
  base?: Record<string, unknown>;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env.LOG_LEVEL ?? "info",
      messageKey: "message",
      base: options.base ?? null,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ severity: SEVERITY[label] ?? "DEFAULT" }),
      },
      // Error objects under `err` keep their stack, which Error Reporting picks up.
      serializers: { err: pino.stdSerializers.err },
    },
    options.destination ?? pino.destination({ sync: true }),
  );
}

/** A child logger for one conversation; every line then carries its ids. */
export function conversationLogger(
  logger: Logger,
  fields: { conversation_id: string; environment: string; [key: string]: unknown },
): Logger {
  return logger.child(fields);
}
