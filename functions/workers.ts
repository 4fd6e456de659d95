/**
 * The Pub/Sub-triggered workers: which subscription feeds which handler.
 *
 * `functions/index.ts` registers each handler with the functions framework for Cloud
 * Functions; the local stack's pull adapter (local/pubsub-bridge.ts) invokes the very same
 * handlers from the emulator's subscriptions. Infra wires each subscription to the
 * function of the same name.
 */
import type { EnvironmentResources } from "../shared/environment";
import type { PubSubHandler } from "../shared/pubsub-event";
import { createEventsHandler } from "./events/handler";
import { createExtractSpeakersHandler } from "./extract-speakers/index";
import { createPersistAudioHandler } from "./persist-audio/handler";
import type { EnvironmentRuntime } from "./runtime";

export interface WorkerBinding {
  /** The functions-framework target name (and Cloud Function entry point). */
  readonly name: string;
  readonly topic: keyof EnvironmentResources["topics"];
  readonly subscription: keyof EnvironmentResources["subscriptions"];
  readonly create: (runtime: EnvironmentRuntime) => PubSubHandler;
}

export const WORKERS: readonly WorkerBinding[] = [
  { name: "persistAudio", topic: "audio", subscription: "persistAudio", create: createPersistAudioHandler },
  { name: "processEvents", topic: "events", subscription: "events", create: createEventsHandler },
  {
    name: "extractSpeakers",
    topic: "extraction",
    subscription: "extractSpeakers",
    create: createExtractSpeakersHandler,
  },
];
