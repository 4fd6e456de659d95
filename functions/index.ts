/**
 * The Cloud Functions entry point: every Pub/Sub worker of functions/workers.ts as a
 * CloudEvent function, and the HTTP API as `api`.
 *
 * Runtimes are built on the first invocation, from the process environment, so importing
 * this module (the framework does it to find its target) needs no configuration, and a
 * deployment configures only the one function it runs.
 */
import * as functions from "@google-cloud/functions-framework";
import type { PubSubHandler } from "../shared/pubsub-event";
import { createApiHandler, type RequestHandler } from "./api/router";
import { runtimeFromProcessEnv } from "./runtime";
import { WORKERS, workerFunction } from "./workers";

function lazily<T>(build: () => T): () => T {
  let built: T | undefined;
  return () => {
    built ??= build();
    return built;
  };
}

for (const worker of WORKERS) {
  const handler = lazily<PubSubHandler>(() => {
    const runtime = runtimeFromProcessEnv(worker.name);
    return workerFunction(worker, worker.create(runtime), runtime.logger);
  });
  functions.cloudEvent<unknown>(worker.name, async (event: functions.CloudEvent<unknown>) => {
    await handler()(event);
  });
}

const api = lazily<RequestHandler>(() => createApiHandler(runtimeFromProcessEnv("api")));
functions.http("api", async (req, res) => {
  await api()(req, res);
});
