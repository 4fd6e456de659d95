/**
 * The log-based metrics of one environment: what operations count from the structured log
 * lines the ingress and the workers write (shared/logger.ts), so that a dead letter, a
 * refused socket or a failed extraction is a number on a chart and a reason to alert, not
 * only a line nobody reads.
 *
 * Every filter is scoped to the environment's own deployables (by Cloud Run service name,
 * from shared/environment.ts) and to lines tagged with its `environment`, so two
 * environments sharing a project never count each other's lines. Each filter names the
 * stable fields the code writes, never the wording of a message; the reason lists come
 * from the code that writes them.
 */
import * as gcp from "@pulumi/gcp";
import type * as pulumi from "@pulumi/pulumi";
import { REJECTION_REASONS } from "../functions/dead-letter";
import type { Reason as ExtractionReason } from "../functions/extract-speakers/status";
import type { EnvironmentResources } from "../shared/environment";
import { LOG_EVENT_FIELD, LOG_EVENTS } from "../shared/logger";
import { CLOSE_CODES, ERROR_CODES } from "../shared/protocol";
import { logicalName } from "./names";

/** Cloud Run services and gen2 functions (each served by a Cloud Run service) log under this resource. */
export const LOG_RESOURCE_TYPE = "cloud_run_revision";

/** The wrong-environment refusal: the error codes whose close code is 4409. */
export const WRONG_ENVIRONMENT_CLOSE_CODE = 4409;
export const WRONG_ENVIRONMENT_ERROR_CODES = ERROR_CODES.filter(
  (code) => CLOSE_CODES[code].closeCode === WRONG_ENVIRONMENT_CLOSE_CODE,
);

/** The extraction reason whose failure means audio is missing from the bucket. */
export const AUDIO_MISSING: ExtractionReason = "audio_missing";

/** Which deployable writes a line: a key of the environment's Cloud Run services or functions. */
export type Writer = "ingress" | "persistAudio" | "processEvents" | "extractSpeakers";

const WORKERS: readonly Writer[] = ["persistAudio", "processEvents", "extractSpeakers"];

export type MetricKey =
  | "deadLetters"
  | "wrongEnvironmentRefusals"
  | "extractionRuns"
  | "extractionPeople"
  | "publishFailures"
  | "stuckFinalizations"
  | "chunksStored"
  | "ackLatency";

export interface LogMetricSpec {
  readonly key: MetricKey;
  /** Suffix of the metric id after the environment's metric prefix. */
  readonly id: string;
  readonly description: string;
  readonly writers: readonly Writer[];
  /** Conditions on the line beyond its writer and environment (Logging query language). */
  readonly conditions: readonly string[];
  /** Metric label -> the log field it is extracted from. */
  readonly labels: Readonly<Record<string, { readonly field: string; readonly description: string }>>;
  /** A distribution of this numeric field instead of a count of lines. */
  readonly distributionOf?: { readonly field: string; readonly unit: string };
}

/** A string literal of the Logging query language. */
export function quote(value: string): string {
  return JSON.stringify(value);
}

function anyOf(field: string, values: readonly string[]): string {
  return `${field}=(${values.map(quote).join(" OR ")})`;
}

const logEvent = (value: string) => `jsonPayload.${LOG_EVENT_FIELD}=${quote(value)}`;

/** What each metric counts, in pipeline order. */
export const LOG_METRICS: readonly LogMetricSpec[] = [
  {
    key: "wrongEnvironmentRefusals",
    id: "refused-wrong-environment",
    description: `Sockets the ingress refused with ${WRONG_ENVIRONMENT_CLOSE_CODE}: a resume token or conversation of another environment`,
    writers: ["ingress"],
    conditions: [logEvent(LOG_EVENTS.socketRefused), anyOf("jsonPayload.code", WRONG_ENVIRONMENT_ERROR_CODES)],
    labels: {},
  },
  {
    key: "publishFailures",
    id: "publish-failures",
    description: "Pub/Sub publishes that failed (audio chunks, events, dead letters), by topic",
    writers: ["ingress", ...WORKERS],
    conditions: [logEvent(LOG_EVENTS.publishFailed)],
    labels: { topic: { field: "jsonPayload.topic", description: "which of the environment's topics" } },
  },
  {
    key: "chunksStored",
    id: "chunks-stored",
    description: "Audio chunks written to the bucket (redeliveries of a stored chunk not counted)",
    writers: ["persistAudio"],
    conditions: ['jsonPayload.outcome="stored"', "jsonPayload.object:*"],
    labels: {},
  },
  {
    key: "ackLatency",
    id: "ack-latency",
    description: "Milliseconds from a complete chunk to its ack (lines written when the ingress logs at debug level)",
    writers: ["ingress"],
    conditions: ["jsonPayload.ack_ms>=0"],
    labels: {},
    distributionOf: { field: "jsonPayload.ack_ms", unit: "ms" },
  },
  {
    key: "deadLetters",
    id: "dead-letters",
    description: "Messages dead-lettered by a worker, by rejection reason",
    writers: WORKERS,
    conditions: [anyOf("jsonPayload.rejection_reason", REJECTION_REASONS), "jsonPayload.dead_letter_message_id:*"],
    labels: {
      reason: { field: "jsonPayload.rejection_reason", description: "why the message was rejected" },
      function: { field: "resource.labels.service_name", description: "the worker that rejected it" },
    },
  },
  {
    key: "stuckFinalizations",
    id: "stuck-finalizations",
    description: "Conversations found still finalizing past the orphan grace; their finalize event was published again",
    writers: ["ingress"],
    conditions: [logEvent(LOG_EVENTS.finalizationStuck)],
    labels: {},
  },
  {
    key: "extractionRuns",
    id: "extraction-runs",
    description: "Completed speaker extraction runs, by outcome (done, failed, pending)",
    writers: ["extractSpeakers"],
    conditions: ["jsonPayload.extraction_status:*", "jsonPayload.people>=0", "NOT jsonPayload.person_id:*"],
    labels: { status: { field: "jsonPayload.extraction_status", description: "the run's summary status" } },
  },
  {
    key: "extractionPeople",
    id: "extraction-people",
    description: "Speaker extraction outcomes per person, by status and reason",
    writers: ["extractSpeakers"],
    conditions: ["jsonPayload.extraction_status:*", "jsonPayload.person_id:*"],
    labels: {
      status: { field: "jsonPayload.extraction_status", description: "extracted, skipped, failed or pending" },
      reason: { field: "jsonPayload.reason", description: "why not extracted (audio_missing, too_short, ...)" },
    },
  },
];

/** The Cloud Run service name a writer logs under. */
export function writerService(resources: EnvironmentResources, writer: Writer): string {
  const { services, functions } = resources.deployables;
  return writer === "ingress" ? services.ingress : functions[writer];
}

/** The full Logging query of one metric in one environment. */
export function logMetricFilter(resources: EnvironmentResources, spec: LogMetricSpec): string {
  return [
    `resource.type=${quote(LOG_RESOURCE_TYPE)}`,
    anyOf(
      "resource.labels.service_name",
      spec.writers.map((w) => writerService(resources, w)),
    ),
    `jsonPayload.environment=${quote(resources.environment)}`,
    ...spec.conditions,
  ].join("\nAND ");
}

export function logMetricId(resources: EnvironmentResources, spec: LogMetricSpec): string {
  return `${resources.monitoring.metricPrefix}${spec.id}`;
}

/** The time series type Cloud Monitoring gives a log-based metric. */
export function metricType(metricId: string): string {
  return `logging.googleapis.com/user/${metricId}`;
}

/** The Monitoring filter selecting one metric's time series in one environment. */
export function metricFilter(
  resources: EnvironmentResources,
  key: MetricKey,
  labelConditions: readonly string[] = [],
): string {
  return [
    `metric.type=${quote(metricType(logMetricId(resources, specOf(key))))}`,
    `resource.type=${quote(LOG_RESOURCE_TYPE)}`,
    ...labelConditions,
  ].join(" AND ");
}

export function specOf(key: MetricKey): LogMetricSpec {
  const spec = LOG_METRICS.find((s) => s.key === key);
  if (spec === undefined) throw new Error(`no log metric ${key}`);
  return spec;
}

export type LogMetrics = Readonly<Record<MetricKey, gcp.logging.Metric>>;

/** Creates every log-based metric of the environment. */
export function logMetrics(resources: EnvironmentResources, opts: pulumi.CustomResourceOptions): LogMetrics {
  const created = {} as Record<MetricKey, gcp.logging.Metric>;
  for (const spec of LOG_METRICS) {
    const labelEntries = Object.entries(spec.labels);
    created[spec.key] = new gcp.logging.Metric(
      logicalName(resources, "metric", spec.key),
      {
        project: resources.projectId,
        name: logMetricId(resources, spec),
        description: `${resources.monitoring.displayPrefix}: ${spec.description}`,
        filter: logMetricFilter(resources, spec),
        metricDescriptor: {
          metricKind: "DELTA",
          valueType: spec.distributionOf === undefined ? "INT64" : "DISTRIBUTION",
          unit: spec.distributionOf?.unit ?? "1",
          displayName: `${resources.monitoring.displayPrefix} ${spec.id}`,
          labels: labelEntries.map(([key, label]) => ({ key, valueType: "STRING", description: label.description })),
        },
        labelExtractors: Object.fromEntries(labelEntries.map(([key, label]) => [key, `EXTRACT(${label.field})`])),
        ...(spec.distributionOf === undefined
          ? {}
          : {
              valueExtractor: `EXTRACT(${spec.distributionOf.field})`,
              // 1 ms to ~65 s in 17 doubling buckets.
              bucketOptions: { exponentialBuckets: { numFiniteBuckets: 17, growthFactor: 2, scale: 1 } },
            }),
      },
      opts,
    );
  }
  return created;
}
