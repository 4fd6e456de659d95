/**
 * How a Cloud Run entry point (ingress, API) stops: on SIGTERM (Cloud Run gives 10 s) or
 * SIGINT it closes what it serves, then the runtime's clients, and exits 0, or 1 with a
 * log line if closing failed.
 */
import type { EnvironmentRuntime } from "./runtime";

export function exitOnSignals(runtime: EnvironmentRuntime, close: () => Promise<void>): void {
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    runtime.logger.info({ signal, conversation_id: null }, "shutdown requested");
    void close()
      .then(() => runtime.clients.close())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          runtime.logger.error({ err: error, conversation_id: null }, "shutdown failed");
          process.exit(1);
        },
      );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}
