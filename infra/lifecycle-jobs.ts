/**
 * The data's life in a deployed environment (PROTOCOL section 3):
 * - who may subscribe to the environment's `notifications` topic: the service account the
 *   platform team names (`tether:notificationsSubscriber`), e.g. the app backend's push
 *   subscription's owner; nobody else;
 * - retention (`tether:retentionDays`, unset: forever): a daily Cloud Scheduler job
 *   publishes the retention run to the deletion topic, and the delete-data worker deletes
 *   every expired conversation through the same path as a DELETE. It replaces the bucket
 *   lifecycle rule that deleted audio objects and left their records behind.
 * Cloud Scheduler publishes as its own service agent, whose default role may publish to
 * the project's topics: no grant of ours is needed.
 */
import * as gcp from "@pulumi/gcp";
import type * as pulumi from "@pulumi/pulumi";
import { deletionMessage } from "../shared/deletion-messages";
import type { EnvironmentResources } from "../shared/environment";
import { logicalName } from "./names";
import type { Topics } from "./topics";

/** When the retention run starts: daily, at a quiet hour (UTC). */
export const RETENTION_SCHEDULE = "17 3 * * *";

export function notificationsSubscriber(
  resources: EnvironmentResources,
  deps: { readonly topics: Topics; readonly subscriber: string | undefined },
  opts: pulumi.CustomResourceOptions,
): gcp.pubsub.TopicIAMMember | undefined {
  if (deps.subscriber === undefined) return undefined;
  return new gcp.pubsub.TopicIAMMember(
    logicalName(resources, "notifications-subscriber"),
    {
      project: resources.projectId,
      topic: deps.topics.notifications.name,
      role: "roles/pubsub.subscriber",
      member: `serviceAccount:${deps.subscriber}`,
    },
    opts,
  );
}

export function retentionJob(
  resources: EnvironmentResources,
  deps: { readonly topics: Topics; readonly region: string; readonly retentionDays: number | undefined },
  opts: pulumi.CustomResourceOptions,
): gcp.cloudscheduler.Job | undefined {
  if (deps.retentionDays === undefined) return undefined;
  const message = deletionMessage(resources.environment, { kind: "retention", retention_days: deps.retentionDays });
  return new gcp.cloudscheduler.Job(
    logicalName(resources, "retention"),
    {
      project: resources.projectId,
      region: deps.region,
      name: `tether-${resources.environment}-retention`,
      description: `tether ${resources.environment}: delete conversations older than ${deps.retentionDays} days`,
      schedule: RETENTION_SCHEDULE,
      timeZone: "Etc/UTC",
      pubsubTarget: {
        topicName: deps.topics.deletion.id,
        data: message.data.toString("base64"),
        attributes: message.attributes,
      },
    },
    opts,
  );
}
