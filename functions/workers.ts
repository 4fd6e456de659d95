/**
 * The Pub/Sub-triggered workers: the handler behind each worker of the pipeline
 * declaration (shared/pipeline.ts), which names its entry point, subscription and topic.
 *
 * `functions/index.ts` registers each handler with the functions framework for Cloud
 * Functions; the local stack's pull bridge (local/pubsub-bridge.ts) invokes the very same
 * handlers from the emulator's subscriptions. Infra wires each subscription to the
 * function of the same declaration.
 */
import { type ComponentKey, PIPELINE, type Pipeline, type WorkerView, workersOf } from "../shared/pipeline";
import type { PubSubHandler } from "../shared/pubsub-event";
import { createDeleteDataHandler } from "./deletion/handler";
import { createEventsHandler } from "./events/handler";
import { createExtractSpeakersHandler } from "./extract-speakers/index";
import { createPersistAudioHandler } from "./persist-audio/handler";
import type { EnvironmentRuntime } from "./runtime";

export interface WorkerBinding {
  /** The functions-framework target name (and Cloud Function entry point). */
  readonly name: string;
  readonly worker: WorkerView;
  readonly topic: WorkerView["topic"];
  readonly subscription: WorkerView["subscription"];
  readonly create: (runtime: EnvironmentRuntime) => PubSubHandler;
}

/** The code of each worker component. */
const HANDLERS: Readonly<Partial<Record<ComponentKey, (runtime: EnvironmentRuntime) => PubSubHandler>>> = {
  persistAudio: createPersistAudioHandler,
  events: createEventsHandler,
  extractSpeakers: createExtractSpeakersHandler,
  deletion: createDeleteDataHandler,
};

export function workerBindings(pipeline: Pipeline): WorkerBinding[] {
  return workersOf(pipeline).map((worker) => {
    const create = HANDLERS[worker.component];
    if (create === undefined) throw new Error(`the pipeline declares worker ${worker.component}, which has no handler`);
    return { name: worker.entryPoint, worker, topic: worker.topic, subscription: worker.subscription, create };
  });
}

export const WORKERS: readonly WorkerBinding[] = workerBindings(PIPELINE);
