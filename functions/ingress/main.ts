/**
 * Cloud Run entry point of the ingress (compiled to dist/functions/ingress/main.js).
 *
 * Reads the environment's settings from the process environment, listens on $PORT, and on
 * SIGTERM (Cloud Run gives 10 s) stops accepting sockets, sends `goaway` to each so its
 * client resumes elsewhere while this one still acknowledges, makes every complete chunk
 * received on the sockets that did not move durable, closes them with 1012, then exits.
 */
import type http from "node:http";
import { runtimeFromProcessEnv } from "../runtime";
import { exitOnSignals } from "../shutdown";
import { createIngress } from "./server";

async function main(): Promise<http.Server> {
  const runtime = runtimeFromProcessEnv("ingress");
  const built = createIngress(runtime);
  const ingress = await built.listen({ host: runtime.settings.host, port: runtime.settings.port });
  exitOnSignals(runtime, () => ingress.close());
  return built.server;
}

/** The listening HTTP server (the local stack also hands it connections: local/ingress-child.ts). */
export const listening: Promise<http.Server> = main();

listening.catch((error: unknown) => {
  process.stderr.write(`ingress failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
