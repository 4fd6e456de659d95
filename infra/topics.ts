/**
 * The environment's Pub/Sub topics, one per topic of the pipeline declaration
 * (shared/pipeline.ts): audio chunks, events, extraction requests, dead letters.
 */
import * as gcp from "@pulumi/gcp";
import type * as pulumi from "@pulumi/pulumi";
import type { EnvironmentResources } from "../shared/environment";
import { PIPELINE, type TopicKey } from "../shared/pipeline";
import { logicalName } from "./names";

export type { TopicKey };

export type Topics = Readonly<Record<TopicKey, gcp.pubsub.Topic>>;

export function environmentTopics(resources: EnvironmentResources, opts: pulumi.CustomResourceOptions): Topics {
  const keys = Object.keys(PIPELINE.topics) as TopicKey[];
  return Object.fromEntries(
    keys.map((key) => [
      key,
      new gcp.pubsub.Topic(
        logicalName(resources, "topic", key),
        { project: resources.projectId, name: resources.topics[key] },
        opts,
      ),
    ]),
  ) as Record<TopicKey, gcp.pubsub.Topic>;
}
