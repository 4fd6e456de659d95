/**
 * The alert policies of one environment, and the notification channel they name (the
 * stack's `tether:alertChannel`).
 *
 * Every policy watches one of the environment's own log-based metrics (monitoring.ts), so
 * an alert in one environment is never raised by another's traffic. Any occurrence fires:
 * each of these lines means data was refused, lost or left behind. A wrong-environment dead
 * letter is an incident (CRITICAL): audio reached the wrong environment's workers.
 */
import * as gcp from "@pulumi/gcp";
import type * as pulumi from "@pulumi/pulumi";
import type { EnvironmentResources } from "../shared/environment";
import type { AlertChannel } from "./config";
import {
  AUDIO_MISSING,
  type LogMetrics,
  type MetricKey,
  metricFilter,
  quote,
  WRONG_ENVIRONMENT_CLOSE_CODE,
} from "./monitoring";
import { logicalName } from "./names";

export type AlertKey =
  | "wrongEnvironmentDeadLetters"
  | "deadLetters"
  | "wrongEnvironmentRefusals"
  | "publishFailures"
  | "stuckFinalizations"
  | "extractionFailed"
  | "audioMissing";

export type AlertSeverity = "CRITICAL" | "ERROR" | "WARNING";

export interface AlertSpec {
  readonly key: AlertKey;
  readonly title: string;
  readonly metric: MetricKey;
  /** Conditions on the metric's labels. */
  readonly labels: readonly string[];
  readonly severity: AlertSeverity;
  /** What it means and what to do first (Markdown; `$ENV`, `$PROJECT`, `$DEAD_LETTERS` are filled in). */
  readonly runbook: string;
}

const WRONG_ENVIRONMENT = "wrong_environment";

const READ_DEAD_LETTERS =
  "Read them (they stay in the subscription): `gcloud pubsub subscriptions pull $DEAD_LETTERS --project $PROJECT --limit 10`; " +
  "each carries `rejection_reason`, `rejection_detail` and `rejected_by` attributes.";

export const ALERTS: readonly AlertSpec[] = [
  {
    key: "wrongEnvironmentDeadLetters",
    title: "message of another environment dead-lettered",
    metric: "deadLetters",
    labels: [`metric.label.reason=${quote(WRONG_ENVIRONMENT)}`],
    severity: "CRITICAL",
    runbook:
      "A worker of $ENV received a message tagged for another environment and dead-lettered it. " +
      "Some publisher is writing into $ENV's topics with another environment's data: find it before more audio lands here. " +
      READ_DEAD_LETTERS,
  },
  {
    key: "deadLetters",
    title: "messages dead-lettered",
    metric: "deadLetters",
    labels: [`metric.label.reason!=${quote(WRONG_ENVIRONMENT)}`],
    severity: "ERROR",
    runbook:
      "A worker of $ENV refused a message it can never process (bad schema, conflicting chunk, retries exhausted, ...). " +
      READ_DEAD_LETTERS,
  },
  {
    key: "wrongEnvironmentRefusals",
    title: `sockets refused with ${WRONG_ENVIRONMENT_CLOSE_CODE} (wrong environment)`,
    metric: "wrongEnvironmentRefusals",
    labels: [],
    severity: "WARNING",
    runbook:
      `The $ENV ingress refused sockets whose resume token or conversation belongs to another environment (${WRONG_ENVIRONMENT_CLOSE_CODE}). ` +
      "Nothing was stored, but a client is pointed at the wrong environment: its log lines name the conversation and user.",
  },
  {
    key: "publishFailures",
    title: "Pub/Sub publishes failed",
    metric: "publishFailures",
    labels: [],
    severity: "ERROR",
    runbook:
      "Publishing to one of $ENV's topics failed (the `topic` label says which). Clients resume and re-send unacknowledged audio, " +
      "but a failing dead-letter publish means a refused message is being redelivered. Check the topic exists and the service account may publish.",
  },
  {
    key: "stuckFinalizations",
    title: "finalizations stuck in finalizing",
    metric: "stuckFinalizations",
    labels: [],
    severity: "ERROR",
    runbook:
      "A conversation of $ENV stayed `finalizing` past the ingress's orphan grace, so its finalize event was published again. " +
      "Check the events worker's errors and its subscription's backlog.",
  },
  {
    key: "extractionFailed",
    title: "speaker extraction runs failed",
    metric: "extractionRuns",
    labels: ['metric.label.status="failed"'],
    severity: "ERROR",
    runbook:
      "A speaker extraction run of $ENV ended `failed`. `GET /v1/conversations/{id}` names each person's reason; " +
      "the log lines of the extract-speakers function carry the conversation id.",
  },
  {
    key: "audioMissing",
    title: "people not extracted: audio missing",
    metric: "extractionPeople",
    labels: [`metric.label.reason=${quote(AUDIO_MISSING)}`, 'metric.label.status="failed"'],
    severity: "ERROR",
    runbook:
      "Speaker extraction in $ENV failed for a person because chunks of the conversation are not in $ENV's bucket. " +
      "Check the persist-audio function's errors and the dead letters.",
  },
];

/** The runbook text of one alert in one environment. */
export function runbook(resources: EnvironmentResources, spec: AlertSpec): string {
  return spec.runbook
    .replaceAll("$ENV", resources.environment)
    .replaceAll("$PROJECT", resources.projectId)
    .replaceAll("$DEAD_LETTERS", resources.subscriptions.deadLetter);
}

export function notificationChannel(
  resources: EnvironmentResources,
  channel: AlertChannel,
  opts: pulumi.CustomResourceOptions,
): gcp.monitoring.NotificationChannel {
  return new gcp.monitoring.NotificationChannel(
    logicalName(resources, "alert-channel"),
    {
      project: resources.projectId,
      displayName: `${resources.monitoring.displayPrefix} alerts`,
      description: `Where the alerts of tether environment ${resources.environment} go`,
      ...(channel.kind === "email"
        ? { type: "email", labels: { email_address: channel.address } }
        : { type: "pubsub", labels: { topic: channel.topic } }),
      userLabels: { "tether-environment": resources.environment },
    },
    opts,
  );
}

export type AlertPolicies = Readonly<Record<AlertKey, gcp.monitoring.AlertPolicy>>;

/** Creates every alert policy of the environment, each notifying `channel`. */
export function alertPolicies(
  resources: EnvironmentResources,
  deps: { readonly metrics: LogMetrics; readonly channel: gcp.monitoring.NotificationChannel },
  opts: pulumi.CustomResourceOptions,
): AlertPolicies {
  const created = {} as Record<AlertKey, gcp.monitoring.AlertPolicy>;
  for (const spec of ALERTS) {
    const title = `${resources.monitoring.displayPrefix}: ${spec.title}`;
    created[spec.key] = new gcp.monitoring.AlertPolicy(
      logicalName(resources, "alert", spec.key),
      {
        project: resources.projectId,
        displayName: title,
        severity: spec.severity,
        combiner: "OR",
        conditions: [
          {
            displayName: title,
            conditionThreshold: {
              filter: metricFilter(resources, spec.metric, spec.labels),
              comparison: "COMPARISON_GT",
              thresholdValue: 0,
              duration: "0s",
              aggregations: [
                { alignmentPeriod: "60s", perSeriesAligner: "ALIGN_DELTA", crossSeriesReducer: "REDUCE_SUM" },
              ],
              trigger: { count: 1 },
            },
          },
        ],
        notificationChannels: [deps.channel.name],
        alertStrategy: { autoClose: "1800s" },
        documentation: { mimeType: "text/markdown", subject: title, content: runbook(resources, spec) },
        userLabels: { "tether-environment": resources.environment },
      },
      // The policy's filter names the metric: it must exist first.
      { ...opts, dependsOn: [deps.metrics[spec.metric]] },
    );
  }
  return created;
}
