/**
 * The environment's Pub/Sub topics: audio chunks, events, extraction requests, dead letters.
 */
import * as gcp from "@pulumi/gcp";
import type * as pulumi from "@pulumi/pulumi";
import type { EnvironmentResources } from "../shared/environment";
import { logicalName } from "./names";

export type TopicKey = keyof EnvironmentResources["topics"];

export type Topics = Readonly<Record<TopicKey, gcp.pubsub.Topic>>;

export function environmentTopics(resources: EnvironmentResources, opts: pulumi.CustomResourceOptions): Topics {
  const topic = (key: TopicKey) =>
    new gcp.pubsub.Topic(
      logicalName(resources, "topic", key),
      { project: resources.projectId, name: resources.topics[key] },
      opts,
    );
  return {
    audio: topic("audio"),
    events: topic("events"),
    extraction: topic("extraction"),
    deadLetter: topic("deadLetter"),
  };
}
