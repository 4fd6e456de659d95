/**
 * One alert per worker subscription on the age of its oldest unacknowledged message.
 *
 * Worker subscriptions have no dead-letter policy (acknowledged audio must never be acked
 * away after N attempts), so a message that keeps failing is redelivered until retention
 * ends and is then dropped without a trace. This alert fires long before: once a message
 * has waited longer than several of its full retry cycles, which a healthy worker never
 * lets happen. Pub/Sub's own metric, so it needs no log-based metric and no second phase.
 */
import * as gcp from "@pulumi/gcp";
import type * as pulumi from "@pulumi/pulumi";
import type { EnvironmentResources } from "../shared/environment";
import { PIPELINE, type Pipeline, type SubscriptionDeclaration, workersOf } from "../shared/pipeline";
import { logicalName } from "./names";

/** A message this many maximal retry backoffs (or ack deadlines) old is failing, not queued. */
const RETRY_CYCLES = 6;
/** Never later than this fraction of retention: on-call keeps nearly all of it to act. */
const RETENTION_FRACTION = 1 / 24;

export const OLDEST_UNACKED_AGE_METRIC = "pubsub.googleapis.com/subscription/oldest_unacked_message_age";

/** Seconds of oldest-unacked age at which a subscription's backlog alert fires. */
export function backlogAgeThresholdSeconds(delivery: SubscriptionDeclaration): number {
  const cycle = Math.max(delivery.retry?.deployed.maximumSeconds ?? 0, delivery.ackDeadlineSeconds);
  return Math.min(RETRY_CYCLES * cycle, Math.floor(delivery.retentionSeconds * RETENTION_FRACTION));
}

export function backlogAlerts(
  resources: EnvironmentResources,
  deps: {
    readonly channel: gcp.monitoring.NotificationChannel;
    readonly pipeline?: Pipeline;
  },
  opts: pulumi.CustomResourceOptions,
): gcp.monitoring.AlertPolicy[] {
  return workersOf(deps.pipeline ?? PIPELINE).map((worker) => {
    const subscription = resources.subscriptions[worker.subscription];
    const threshold = backlogAgeThresholdSeconds(worker.delivery);
    const title = `${resources.monitoring.displayPrefix}: ${subscription} backlog older than ${threshold} s`;
    return new gcp.monitoring.AlertPolicy(
      logicalName(resources, "alert", "backlog-age", worker.subscription),
      {
        project: resources.projectId,
        displayName: title,
        severity: "ERROR",
        combiner: "OR",
        conditions: [
          {
            displayName: title,
            conditionThreshold: {
              filter: [
                `metric.type = "${OLDEST_UNACKED_AGE_METRIC}"`,
                'resource.type = "pubsub_subscription"',
                `resource.label.subscription_id = "${subscription}"`,
              ].join(" AND "),
              comparison: "COMPARISON_GT",
              thresholdValue: threshold,
              duration: "300s",
              aggregations: [{ alignmentPeriod: "60s", perSeriesAligner: "ALIGN_MAX" }],
              trigger: { count: 1 },
            },
          },
        ],
        notificationChannels: [deps.channel.name],
        alertStrategy: { autoClose: "1800s" },
        documentation: {
          mimeType: "text/markdown",
          subject: title,
          content:
            `A message of ${subscription} has been unacknowledged for over ${threshold} s: ${worker.entryPoint} keeps ` +
            `failing on it. It is dropped unprocessed when retention (${worker.delivery.retentionSeconds} s) ends. ` +
            `Read the function's ERROR lines for the conversation_id, fix the cause; the message is redelivered meanwhile.`,
        },
        userLabels: { "tether-environment": resources.environment },
      },
      opts,
    );
  });
}
