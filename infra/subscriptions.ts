/**
 * The environment's subscriptions, as the pipeline declaration (shared/pipeline.ts) states
 * them: one push subscription per worker, and a pull subscription for each subscription no
 * worker reads (the dead-letter store an operator reads). Ordering, ack deadline, retry,
 * dead-letter policy and retention all come from the declaration.
 *
 * Explicit push subscriptions rather than Eventarc triggers: an Eventarc trigger creates
 * and owns its subscription, so its retry and dead-letter policies could not be set here.
 */
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import type { EnvironmentResources } from "../shared/environment";
import {
  PIPELINE,
  type Pipeline,
  type SubscriptionKey,
  type SubscriptionSettings,
  subscriptionSettings,
} from "../shared/pipeline";
import type { ServiceAccounts } from "./identity";
import { logicalName } from "./names";
import type { Topics } from "./topics";
import type { WorkerFunctions } from "./workers";

/** An empty TTL: the subscription never expires, however long it stays idle. */
const NEVER_EXPIRE = { ttl: "" } as const;

export type DeployedSubscriptions = ReadonlyMap<SubscriptionKey, gcp.pubsub.Subscription>;

const seconds = (value: number) => `${value}s`;

/** `<function uri>/projects/<project>/topics/<topic>`: the path the functions framework reads. */
export function pushEndpoint(functionUri: pulumi.Input<string>, topic: gcp.pubsub.Topic): pulumi.Output<string> {
  return pulumi.interpolate`${functionUri}/projects/${topic.project}/topics/${topic.name}`;
}

/** The arguments every subscription shares: topic, ordering, deadline, retry, dead letters, retention. */
function deliveryArgs(
  resources: EnvironmentResources,
  settings: SubscriptionSettings,
  topics: Topics,
): gcp.pubsub.SubscriptionArgs {
  return {
    project: resources.projectId,
    name: resources.subscriptions[settings.key],
    topic: topics[settings.topic].id,
    ackDeadlineSeconds: settings.ackDeadlineSeconds,
    enableMessageOrdering: settings.ordered,
    messageRetentionDuration: seconds(settings.retentionSeconds),
    expirationPolicy: NEVER_EXPIRE,
    ...(settings.retry === undefined
      ? {}
      : {
          retryPolicy: {
            minimumBackoff: seconds(settings.retry.minimumSeconds),
            maximumBackoff: seconds(settings.retry.maximumSeconds),
          },
        }),
    ...(settings.deadLetter === undefined
      ? {}
      : {
          deadLetterPolicy: {
            deadLetterTopic: topics[settings.deadLetter.topic].id,
            maxDeliveryAttempts: settings.deadLetter.maxDeliveryAttempts,
          },
        }),
  };
}

/**
 * One subscription for each deployed setting `extraArgs` answers for (`undefined`: not one
 * of these), with the delivery arguments every subscription shares.
 */
function deploySubscriptions(
  resources: EnvironmentResources,
  topics: Topics,
  opts: pulumi.CustomResourceOptions,
  pipeline: Pipeline,
  extraArgs: (settings: SubscriptionSettings) => Partial<gcp.pubsub.SubscriptionArgs> | undefined,
): DeployedSubscriptions {
  const created = new Map<SubscriptionKey, gcp.pubsub.Subscription>();
  for (const settings of subscriptionSettings(pipeline, "deployed")) {
    const extra = extraArgs(settings);
    if (extra === undefined) continue;
    const args = { ...deliveryArgs(resources, settings, topics), ...extra };
    created.set(
      settings.key,
      new gcp.pubsub.Subscription(logicalName(resources, "subscription", settings.key), args, opts),
    );
  }
  return created;
}

/** Each worker's subscription, pushing to its function as the worker's own account. */
export function workerSubscriptions(
  resources: EnvironmentResources,
  deps: {
    readonly topics: Topics;
    readonly workers: WorkerFunctions;
    readonly accounts: ServiceAccounts;
    readonly pipeline?: Pipeline;
  },
  opts: pulumi.CustomResourceOptions,
): DeployedSubscriptions {
  return deploySubscriptions(resources, deps.topics, opts, deps.pipeline ?? PIPELINE, (settings) => {
    if (settings.worker === undefined) return undefined;
    const worker = deps.workers.find((w) => w.spec.subscription === settings.key);
    if (worker === undefined) throw new Error(`no function was built for subscription ${settings.key}`);
    return {
      pushConfig: {
        pushEndpoint: pushEndpoint(worker.uri, deps.topics[settings.topic]),
        oidcToken: {
          serviceAccountEmail: deps.accounts[worker.spec.account].email,
          audience: worker.uri,
        },
      },
    };
  });
}

/** Pull subscriptions no worker reads: the dead-letter store, which an operator reads. */
export function operatorSubscriptions(
  resources: EnvironmentResources,
  topics: Topics,
  opts: pulumi.CustomResourceOptions,
  pipeline: Pipeline = PIPELINE,
): DeployedSubscriptions {
  return deploySubscriptions(resources, topics, opts, pipeline, (settings) =>
    settings.worker === undefined ? {} : undefined,
  );
}

/** The dead-letter store: the pull subscription on the dead-letter topic. */
export function deadLetterStore(
  resources: EnvironmentResources,
  topics: Topics,
  opts: pulumi.CustomResourceOptions,
  pipeline: Pipeline = PIPELINE,
): gcp.pubsub.Subscription {
  const store = operatorSubscriptions(resources, topics, opts, pipeline).get("deadLetter");
  if (store === undefined) throw new Error("the pipeline declares no operator subscription on the dead-letter topic");
  return store;
}
