/**
 * The Cloud Functions entry point: every Pub/Sub worker of functions/workers.ts as a
 * CloudEvent function. (The HTTP API is not one: it runs its own server, api/main.ts.)
 *
 * Runtimes are built on the first invocation, from the process environment, so importing
 * this module (the framework does it to find its target) needs no configuration, and a
 * deployment configures only the one function it runs.
 */
import * as functions from "@google-cloud/functions-framework";
import type { PubSubHandler } from "../shared/pubsub-event";
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
    return workerFunction(worker, worker.create(runtime), runtime.logger, runtime.resources.environment);
  });
  functions.cloudEvent<unknown>(worker.name, async (event: functions.CloudEvent<unknown>) => {
    await handler()(event);
  });
}
