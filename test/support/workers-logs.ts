/** A logger whose lines a test can read back (the structured JSON Cloud Logging gets). */
import { createLogger, type Logger } from "../../shared/logger";

export interface LogLine {
  readonly severity: string;
  readonly message: string;
  readonly [field: string]: unknown;
}

export interface CapturedLogs {
  readonly logger: Logger;
  readonly lines: LogLine[];
  /** Lines at `severity` (e.g. "ERROR") whose fields include `fields`. */
  find(severity: string, fields?: Record<string, unknown>): LogLine[];
}

/** `level`: the least severe line kept (and what a stack passes on to the processes it starts). */
export function captureLogs(level = "debug"): CapturedLogs {
  const lines: LogLine[] = [];
  const logger = createLogger({
    level,
    destination: { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) },
  });
  return {
    logger,
    lines,
    find: (severity, fields = {}) =>
      lines.filter((line) => line.severity === severity && Object.entries(fields).every(([k, v]) => line[k] === v)),
  };
}
