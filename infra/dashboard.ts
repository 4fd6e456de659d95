/**
 * One Cloud Monitoring dashboard per environment: is audio flowing (live sockets, chunks
 * stored per second, ack latency), is anything refused or lost (dead letters by reason,
 * 4409 refusals, publish failures, stuck finalizations), and how extraction ends.
 *
 * Every chart reads the environment's own log-based metrics (monitoring.ts) or the Cloud
 * Run metrics of its own ingress service, never another environment's.
 */
import * as gcp from "@pulumi/gcp";
import type * as pulumi from "@pulumi/pulumi";
import type { EnvironmentResources } from "../shared/environment";
import {
  LOG_RESOURCE_TYPE,
  type LogMetrics,
  type MetricKey,
  metricFilter,
  quote,
  WRONG_ENVIRONMENT_CLOSE_CODE,
} from "./monitoring";
import { logicalName } from "./names";

interface Aggregation {
  readonly alignmentPeriod: string;
  readonly perSeriesAligner: string;
  readonly crossSeriesReducer: string;
  readonly groupByFields?: readonly string[];
}

interface DataSet {
  readonly timeSeriesQuery: {
    readonly timeSeriesFilter: { readonly filter: string; readonly aggregation: Aggregation };
  };
  readonly plotType: "LINE" | "STACKED_BAR" | "STACKED_AREA";
  readonly legendTemplate?: string;
}

interface Chart {
  readonly title: string;
  readonly dataSets: readonly DataSet[];
  readonly yLabel: string;
}

const perMinute = (reducer = "REDUCE_SUM", groupByFields?: readonly string[]): Aggregation => ({
  alignmentPeriod: "60s",
  perSeriesAligner: "ALIGN_DELTA",
  crossSeriesReducer: reducer,
  ...(groupByFields === undefined ? {} : { groupByFields }),
});

function counted(
  resources: EnvironmentResources,
  metric: MetricKey,
  options: { groupBy?: readonly string[]; labels?: readonly string[]; plot?: DataSet["plotType"] } = {},
): DataSet {
  return {
    timeSeriesQuery: {
      timeSeriesFilter: {
        filter: metricFilter(resources, metric, options.labels),
        aggregation: perMinute("REDUCE_SUM", options.groupBy),
      },
    },
    plotType: options.plot ?? "STACKED_BAR",
  };
}

/** The charts of one environment's dashboard, in reading order. */
export function dashboardCharts(resources: EnvironmentResources): Chart[] {
  const ingress = resources.deployables.services.ingress;
  return [
    {
      title: "Live sockets (ingress, concurrent requests summed over instances)",
      yLabel: "sockets",
      dataSets: [
        {
          timeSeriesQuery: {
            timeSeriesFilter: {
              filter: [
                'metric.type="run.googleapis.com/container/max_request_concurrencies"',
                `resource.type=${quote(LOG_RESOURCE_TYPE)}`,
                `resource.label.service_name=${quote(ingress)}`,
              ].join(" AND "),
              aggregation: {
                alignmentPeriod: "60s",
                perSeriesAligner: "ALIGN_PERCENTILE_99",
                crossSeriesReducer: "REDUCE_SUM",
              },
            },
          },
          plotType: "LINE",
        },
      ],
    },
    {
      title: "Chunks stored per second",
      yLabel: "chunks/s",
      dataSets: [
        {
          timeSeriesQuery: {
            timeSeriesFilter: {
              filter: metricFilter(resources, "chunksStored"),
              aggregation: { alignmentPeriod: "60s", perSeriesAligner: "ALIGN_RATE", crossSeriesReducer: "REDUCE_SUM" },
            },
          },
          plotType: "LINE",
        },
      ],
    },
    {
      title: "Ack latency: complete chunk to ack (p50, p95, p99)",
      yLabel: "ms",
      dataSets: (["REDUCE_PERCENTILE_50", "REDUCE_PERCENTILE_95", "REDUCE_PERCENTILE_99"] as const).map((reducer) => ({
        timeSeriesQuery: {
          timeSeriesFilter: { filter: metricFilter(resources, "ackLatency"), aggregation: perMinute(reducer) },
        },
        plotType: "LINE" as const,
        legendTemplate: reducer.replace("REDUCE_PERCENTILE_", "p"),
      })),
    },
    {
      title: "Dead letters by reason",
      yLabel: "messages/min",
      dataSets: [counted(resources, "deadLetters", { groupBy: ["metric.label.reason"] })],
    },
    {
      title: `Sockets refused with ${WRONG_ENVIRONMENT_CLOSE_CODE} (wrong environment)`,
      yLabel: "sockets/min",
      dataSets: [counted(resources, "wrongEnvironmentRefusals")],
    },
    {
      title: "Publish failures by topic, finalizations stuck in finalizing",
      yLabel: "per min",
      dataSets: [
        counted(resources, "publishFailures", { groupBy: ["metric.label.topic"] }),
        counted(resources, "stuckFinalizations"),
      ],
    },
    {
      title: "Extraction runs by outcome",
      yLabel: "runs/min",
      dataSets: [counted(resources, "extractionRuns", { groupBy: ["metric.label.status"] })],
    },
    {
      title: "People not extracted, by reason",
      yLabel: "people/min",
      dataSets: [
        counted(resources, "extractionPeople", {
          groupBy: ["metric.label.status", "metric.label.reason"],
          labels: ['metric.label.status!="extracted"'],
        }),
      ],
    },
  ];
}

/** The dashboard's JSON (Cloud Monitoring's Dashboard resource, mosaic layout of two columns). */
export function dashboardJson(resources: EnvironmentResources): string {
  const width = 6;
  const height = 4;
  const tiles = dashboardCharts(resources).map((chart, i) => ({
    xPos: (i % 2) * width,
    yPos: Math.floor(i / 2) * height,
    width,
    height,
    widget: {
      title: chart.title,
      xyChart: { dataSets: chart.dataSets, yAxis: { label: chart.yLabel, scale: "LINEAR" } },
    },
  }));
  return JSON.stringify({
    displayName: resources.monitoring.displayPrefix,
    mosaicLayout: { columns: 12, tiles },
  });
}

export function environmentDashboard(
  resources: EnvironmentResources,
  metrics: LogMetrics,
  opts: pulumi.CustomResourceOptions,
): gcp.monitoring.Dashboard {
  return new gcp.monitoring.Dashboard(
    logicalName(resources, "dashboard"),
    { project: resources.projectId, dashboardJson: dashboardJson(resources) },
    // The charts name the metrics: they must exist first.
    { ...opts, dependsOn: Object.values(metrics) },
  );
}
