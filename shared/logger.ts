/**
 * Structured logs that Cloud Logging understands: one JSON object a line, with
 * `severity`, `message`, `time`, and `conversation_id` / `environment` when known.
 * https://cloud.google.com/logging/docs/structured-logging
 *
 * One conversation's lines carry the same Cloud Logging trace, whichever service wrote
 * them: the trace id is derived from the environment and the conversation id, so the
 * ingress and every worker compute it without passing it along. The log explorer then
 * shows a conversation's whole life with "show entries for this trace".
 *
 * The fields operations count log lines by (infra/monitoring.ts reads them) are named here
 * too, so a log-based metric never depends on the wording of a message.
 */
import { createHash } from "node:crypto";
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

/** The special field Cloud Logging moves into the entry's `trace`. */
export const TRACE_FIELD = "logging.googleapis.com/trace";

/**
 * A line that operations count carries `log_event` with one of these values (and a
 * metric filters on `jsonPayload.log_event`).
 */
export const LOG_EVENT_FIELD = "log_event" satisfies keyof ReturnType<typeof publishFailed>;
export const LOG_EVENTS = {
  /** The ingress refused a socket with an error close code (`code` names the error). */
  socketRefused: "socket_refused",
  /** A Pub/Sub publish failed (`topic` names which of the environment's topics). */
  publishFailed: "publish_failed",
  /** A conversation stayed `finalizing` past the grace; its finalize event was published again. */
  finalizationStuck: "finalization_stuck",
} as const;
export type LogEvent = (typeof LOG_EVENTS)[keyof typeof LOG_EVENTS];

/** Which of an environment's topics a failed publish was for (keys of `EnvironmentResources.topics`). */
export type PublishTopic = "audio" | "events" | "extraction" | "deadLetter";

/** The fields of a publish-failure line. */
export function publishFailed(topic: PublishTopic): { readonly log_event: LogEvent; readonly topic: PublishTopic } {
  return { log_event: LOG_EVENTS.publishFailed, topic };
}

/**
 * The path of a request target without its query, for log lines: a query may carry a
 * credential (`access_token` of old clients, `resume_token`), and no log line holds one.
 */
export function requestPath(target: string | undefined): string {
  return (target ?? "").split("?", 1)[0] ?? "";
}

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

/**
 * The trace id of one conversation: 32 lower-case hex characters (Cloud Trace's format),
 * the same for every service of the environment and different in every other environment.
 */
export function conversationTraceId(environment: string, conversationId: string): string {
  return createHash("sha256").update(`tether-trace\0${environment}\0${conversationId}`).digest("hex").slice(0, 32);
}

/** The `logging.googleapis.com/trace` value: `projects/PROJECT/traces/TRACE_ID`. */
export function conversationTrace(projectId: string, environment: string, conversationId: string): string {
  return `projects/${projectId}/traces/${conversationTraceId(environment, conversationId)}`;
}

/**
 * Where the environment's traces live. Kept on the logger object, not on its lines: pino
 * children are created with `Object.create(parent)`, so every logger derived from an
 * environment's logger inherits it.
 */
const TRACE_PROJECT = Symbol("tether.traceProject");
type TraceableLogger = Logger & { [TRACE_PROJECT]?: string };

/**
 * The logger of one environment: `environment` on every line, and the project its
 * conversation loggers name in their trace.
 */
export function environmentLogger(logger: Logger, resources: { environment: string; projectId: string }): Logger {
  const child = logger.child({ environment: resources.environment }) as TraceableLogger;
  child[TRACE_PROJECT] = resources.projectId;
  return child;
}

/**
 * A child logger for one conversation; every line then carries its ids, and its trace when
 * `logger` descends from an `environmentLogger`.
 */
export function conversationLogger(
  logger: Logger,
  fields: { conversation_id: string; environment: string; [key: string]: unknown },
): Logger {
  const project = (logger as TraceableLogger)[TRACE_PROJECT];
  if (project === undefined) return logger.child(fields);
  return logger.child({
    ...fields,
    [TRACE_FIELD]: conversationTrace(project, fields.environment, fields.conversation_id),
  });
}
