/**
 * The environment's subscriptions: one push subscription per worker, with the
 * environment's dead-letter topic and an exponential retry policy, plus a pull
 * subscription that keeps dead letters readable.
 *
 * Explicit push subscriptions rather than Eventarc triggers: an Eventarc trigger creates
 * and owns its subscription, so its dead-letter and retry policies could not be set here.
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import type { EnvironmentResources } from "../shared/environment";
import type { ServiceAccounts } from "./identity";
import { logicalName } from "./names";
import type { Topics } from "./topics";
import type { WorkerFunctions, WorkerKey } from "./workers";

/** A message that fails this many deliveries moves to the dead-letter topic. */
export const MAX_DELIVERY_ATTEMPTS = 5;
/** Exponential backoff between redeliveries, from 10 s up to 10 min. */
export const RETRY_POLICY = { minimumBackoff: "10s", maximumBackoff: "600s" } as const;
/** Undelivered work is kept for 7 days. */
export const WORKER_MESSAGE_RETENTION = "604800s";
/** Dead letters are kept for 31 days, the longest Pub/Sub allows. */
export const DEAD_LETTER_RETENTION = "2678400s";
/** An empty TTL: the subscription never expires, however long it stays idle. */
const NEVER_EXPIRE = { ttl: "" } as const;

export type WorkerSubscriptions = Readonly<Record<WorkerKey, gcp.pubsub.Subscription>>;

/** `<function uri>/projects/<project>/topics/<topic>`: the path the functions framework reads. */
export function pushEndpoint(functionUri: pulumi.Input<string>, topic: gcp.pubsub.Topic): pulumi.Output<string> {
  return pulumi.interpolate`${functionUri}/projects/${topic.project}/topics/${topic.name}`;
}

export function workerSubscriptions(
  resources: EnvironmentResources,
  deps: { readonly topics: Topics; readonly workers: WorkerFunctions; readonly accounts: ServiceAccounts },
  opts: pulumi.CustomResourceOptions,
): WorkerSubscriptions {
  const subscribe = (key: WorkerKey): gcp.pubsub.Subscription => {
    const worker = deps.workers[key];
    const { spec } = worker;
    const topic = deps.topics[spec.topic];
    return new gcp.pubsub.Subscription(
      logicalName(resources, "subscription", spec.subscription),
      {
        project: resources.projectId,
        name: resources.subscriptions[spec.subscription],
        topic: topic.id,
        ackDeadlineSeconds: spec.timeoutSeconds,
        enableMessageOrdering: spec.ordered,
        messageRetentionDuration: WORKER_MESSAGE_RETENTION,
        expirationPolicy: NEVER_EXPIRE,
        retryPolicy: RETRY_POLICY,
        deadLetterPolicy: {
          deadLetterTopic: deps.topics.deadLetter.id,
          maxDeliveryAttempts: MAX_DELIVERY_ATTEMPTS,
        },
        pushConfig: {
          pushEndpoint: pushEndpoint(worker.uri, topic),
          oidcToken: {
            serviceAccountEmail: deps.accounts[spec.account].email,
            audience: worker.uri,
          },
        },
      },
      opts,
    );
  };
  return {
    persistAudio: subscribe("persistAudio"),
    processEvents: subscribe("processEvents"),
    extractSpeakers: subscribe("extractSpeakers"),
  };
}

/** Pull subscription on the dead-letter topic: nothing consumes it, an operator reads it. */
export function deadLetterStore(
  resources: EnvironmentResources,
  topics: Topics,
  opts: pulumi.CustomResourceOptions,
): gcp.pubsub.Subscription {
  return new gcp.pubsub.Subscription(
    logicalName(resources, "subscription", "deadLetter"),
    {
      project: resources.projectId,
      name: resources.subscriptions.deadLetter,
      topic: topics.deadLetter.id,
      ackDeadlineSeconds: 60,
      messageRetentionDuration: DEAD_LETTER_RETENTION,
      expirationPolicy: NEVER_EXPIRE,
    },
    opts,
  );
}
