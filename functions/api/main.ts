/**
 * Cloud Run entry point of the HTTP API (compiled to dist/functions/api/main.js): the same
 * plain server (server.ts) the local stack and the tests run, listening on $PORT.
 *
 * Not the functions framework: it reads and parses every request body before the handler
 * runs, so an anonymous 32 MiB POST would be read in full before its 401.
 */
import { runtimeFromProcessEnv } from "../runtime";
import { exitOnSignals } from "../shutdown";
import { startApi } from "./server";

async function main(): Promise<void> {
  const runtime = runtimeFromProcessEnv("api");
  const api = await startApi(runtime, { host: runtime.settings.host, port: runtime.settings.port });
  exitOnSignals(runtime, () => api.close());
}

main().catch((error: unknown) => {
  process.stderr.write(`API failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
