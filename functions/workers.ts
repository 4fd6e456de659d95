/**
 * The Pub/Sub-triggered workers: the handler behind each worker of the pipeline
 * declaration (shared/pipeline.ts), which names its entry point, subscription and topic.
 *
 * `functions/index.ts` registers each handler, as `workerFunction` wraps it, with the
 * functions framework for Cloud Functions; the local stack serves the very same function
 * under the framework's server, pushed to by the emulator (local/push-delivery.ts). Infra
 * wires each subscription to the function of the same declaration.
 */

import { conversationLogger, type Logger } from "../shared/logger";
import { type ComponentKey, PIPELINE, type Pipeline, type WorkerView, workersOf } from "../shared/pipeline";
import { decodePubSubEvent, type PubSubHandler } from "../shared/pubsub-event";
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

/** The line every failed delivery leaves (the framework itself only prints the stack). */
export const WORKER_FAILED = "worker failed; message will be redelivered";

/**
 * A worker's handler as the CloudEvent function the framework serves: a failure is logged
 * as one structured line naming the message and its conversation, then thrown on, so the
 * framework answers 500 and Pub/Sub delivers the message again.
 */
export function workerFunction(
  binding: WorkerBinding,
  handler: PubSubHandler,
  logger: Logger,
  environment: string,
): PubSubHandler {
  return async (event) => {
    try {
      await handler(event);
    } catch (error) {
      let attributes: Readonly<Record<string, string>> = {};
      try {
        attributes = decodePubSubEvent(event).attributes;
      } catch {
        // A malformed envelope: the handler's own error names it.
      }
      const conversationId = attributes.conversation_id;
      // The conversation's own logger, so the line joins its trace with the handler's.
      const lineLogger =
        conversationId === undefined
          ? logger
          : conversationLogger(logger, { conversation_id: conversationId, environment });
      lineLogger.warn(
        {
          err: error,
          subscription: binding.subscription,
          message_id: event.id,
          ...(conversationId === undefined ? { conversation_id: null } : {}),
        },
        WORKER_FAILED,
      );
      throw new Redelivery(error, {
        subscription: binding.subscription,
        message_id: event.id,
        conversation_id: conversationId ?? null,
        environment,
      });
    }
  };
}

/**
 * What a failed delivery throws to the framework, which prints the thrown error's stack to
 * stderr: here one structured line pointing at the WARNING above, not a second stack trace.
 */
class Redelivery extends Error {
  constructor(cause: unknown, fields: Readonly<Record<string, string | null>>) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = "Redelivery";
    this.stack = JSON.stringify({ severity: "DEBUG", message: "answered 500 so that Pub/Sub redelivers", ...fields });
  }
}
