/**
 * Each stack's monitoring under Pulumi mocks: its log-based metrics, alert policies and
 * dashboard exist; every filter is scoped to the stack's own deployables and environment;
 * no metric, policy or chart of one stack names another stack's resources, even when two
 * stacks share a project; every policy notifies the stack's own, real channel.
 *
 * The filters are also evaluated (test/support/log-query.ts) against log lines shaped as
 * the code writes them: one stack's lines move its own metrics and policies only.
 */

import { REJECTION_REASONS } from "../../functions/dead-letter";
import { logOutcome, notExtracted } from "../../functions/extract-speakers/status";
import { ALERTS, type AlertSpec } from "../../infra/alerts";
import { OLDEST_UNACKED_AGE_METRIC } from "../../infra/backlog-alerts";
import { readStackConfig } from "../../infra/config";
import { LOG_METRICS, type LogMetricSpec } from "../../infra/monitoring";
import { type Document, extract, matchesFilter } from "../support/log-query";
import { captureLogs } from "../support/workers-logs";
import { type EnvironmentRecording, foreignMarkers, obj, ofType, splitByEnvironment, str } from "./support/inventory";
import { buildEnvironments, requiredKeys } from "./support/program";
import type { RecordedResource } from "./support/recording-mocks";
import { REPOSITORY_ROOT, STACKS, stackConfigValues } from "./support/stack-files";

const MONITORING = {
  metric: "gcp:logging/metric:Metric",
  policy: "gcp:monitoring/alertPolicy:AlertPolicy",
  channel: "gcp:monitoring/notificationChannel:NotificationChannel",
  dashboard: "gcp:monitoring/dashboard:Dashboard",
} as const;

/** The policies on log-based metrics (ALERTS); the backlog-age ones are first-deploy.test.ts's. */
const logPolicies = (e: EnvironmentRecording) =>
  ofType(e, MONITORING.policy).filter((p) => !JSON.stringify(p.inputs.conditions).includes(OLDEST_UNACKED_AGE_METRIC));

const monitoringResources = (e: EnvironmentRecording) =>
  e.resources.filter((r) => (Object.values(MONITORING) as string[]).includes(r.type));

/** Markers only `other` may use, plus its monitoring names and environment tag. */
function otherStackMarkers(other: EnvironmentRecording, self: EnvironmentRecording): string[] {
  return [
    ...foreignMarkers(other, self),
    other.names.monitoring.metricPrefix,
    `${other.names.monitoring.displayPrefix}:`,
    `environment=\\"${other.names.environment}\\"`, // as it appears in serialised inputs
    `environment=${JSON.stringify(other.names.environment)}`,
  ];
}

function crossReferences(self: EnvironmentRecording, others: readonly EnvironmentRecording[]): string[] {
  const found: string[] = [];
  for (const other of others) {
    const markers = otherStackMarkers(other, self);
    for (const record of monitoringResources(self)) {
      const serialised = JSON.stringify(record.inputs);
      for (const marker of markers) {
        if (serialised.includes(marker)) found.push(`${self.names.environment}: ${record.name} names ${marker}`);
      }
    }
  }
  return found;
}

/** A log entry as Cloud Logging stores a line a deployable of `e` wrote to stdout. */
function entry(service: string, line: Document): Document {
  return { resource: { type: "cloud_run_revision", labels: { service_name: service } }, jsonPayload: line };
}

/** The time series point a log line adds to each metric of `e` (metric type and labels). */
function pointsFor(e: EnvironmentRecording, logEntry: Document): Document[] {
  return ofType(e, MONITORING.metric)
    .filter((metric) => matchesFilter(str(metric, "filter"), logEntry))
    .map((metric) => {
      const extractors = (metric.inputs.labelExtractors ?? {}) as Record<string, string>;
      const labels = Object.fromEntries(
        Object.entries(extractors).map(([key, extractor]) => [key, extract(extractor, logEntry)]),
      );
      return {
        metric: { type: `logging.googleapis.com/user/${str(metric, "name")}`, label: labels },
        resource: { type: "cloud_run_revision" },
      };
    });
}

/** Display names of the policies of `e` that a point would fire. */
function firedBy(e: EnvironmentRecording, points: readonly Document[]): string[] {
  return logPolicies(e)
    .filter((policy) => {
      const conditions = policy.inputs.conditions as Array<{ conditionThreshold: { filter: string } }>;
      return points.some((p) => conditions.some((c) => matchesFilter(c.conditionThreshold.filter, p)));
    })
    .map((policy) => str(policy, "displayName"));
}

describe.each([
  ["a project each", (stack: string) => `tether-test-${stack}`],
  ["one shared project", (_stack: string) => "tether-test-shared"],
])("monitoring of dev, staging and prod in %s", (_label, projectOf) => {
  let environments: Map<string, EnvironmentRecording>;
  const env = (stack: string): EnvironmentRecording => {
    const found = environments.get(stack);
    if (found === undefined) throw new Error(`${stack} was not built`);
    return found;
  };

  beforeAll(async () => {
    const mocks = await buildEnvironments(STACKS.map((stack) => ({ stack, projectId: projectOf(stack) })));
    environments = splitByEnvironment(mocks.resources);
  });

  test.each(STACKS)("%s has every metric, every alert policy, one channel and one dashboard", (stack) => {
    const e = env(stack);
    const prefix = `tether-${stack}-`;
    expect(
      ofType(e, MONITORING.metric)
        .map((m) => str(m, "name"))
        .sort(),
    ).toEqual(LOG_METRICS.map((spec: LogMetricSpec) => `${prefix}${spec.id}`).sort());
    expect(logPolicies(e).map((p) => str(p, "displayName"))).toEqual(
      ALERTS.map((spec: AlertSpec) => `tether ${stack}: ${spec.title}`),
    );
    expect(ofType(e, MONITORING.channel)).toHaveLength(1);
    expect(ofType(e, MONITORING.dashboard)).toHaveLength(1);
    for (const record of monitoringResources(e)) expect(record.inputs.project).toBe(e.names.projectId);
  });

  test.each(STACKS)("every metric of %s reads only its own deployables' lines of its own environment", (stack) => {
    const e = env(stack);
    const own = new Set([
      ...Object.values(e.names.deployables.services),
      ...Object.values(e.names.deployables.functions),
    ]);
    for (const metric of ofType(e, MONITORING.metric)) {
      const filter = str(metric, "filter");
      expect(filter).toContain(`jsonPayload.environment="${stack}"`);
      const services = /resource\.labels\.service_name=\(([^)]*)\)/.exec(filter)?.[1];
      expect(services).toBeDefined();
      for (const service of (services ?? "").split(" OR ")) expect(own.has(JSON.parse(service))).toBe(true);
    }
  });

  test.each(STACKS)("every policy of %s watches its own metrics and notifies its own channel", (stack) => {
    const e = env(stack);
    const channel = ofType(e, MONITORING.channel)[0] as RecordedResource;
    const channelName = str(channel, "name", "state");
    expect(channelName).toMatch(new RegExp(`^projects/${e.names.projectId}/notificationChannels/`));
    expect(channel.inputs).toMatchObject({
      type: "email",
      labels: { email_address: `oncall-${e.names.projectId}@example.com` },
    });
    const ownMetricTypes = new Set(
      ofType(e, MONITORING.metric).map((m) => `logging.googleapis.com/user/${str(m, "name")}`),
    );
    for (const policy of logPolicies(e)) {
      expect(policy.inputs.notificationChannels).toEqual([channelName]);
      const conditions = policy.inputs.conditions as Array<{ conditionThreshold: { filter: string } }>;
      expect(conditions.length).toBeGreaterThan(0);
      for (const condition of conditions) {
        const type = /metric\.type="([^"]+)"/.exec(condition.conditionThreshold.filter)?.[1];
        expect(ownMetricTypes.has(type ?? "")).toBe(true);
      }
    }
    const dashboard = obj(str(ofType(e, MONITORING.dashboard)[0] as RecordedResource, "dashboardJson"));
    const charted = [...JSON.stringify(dashboard).matchAll(/logging\.googleapis\.com\/user\/([A-Za-z0-9-]+)/g)].map(
      (m) => `logging.googleapis.com/user/${m[1]}`,
    );
    expect(charted.length).toBeGreaterThan(5);
    for (const type of charted) expect(ownMetricTypes.has(type)).toBe(true);
    expect(JSON.stringify(dashboard)).toContain(
      `resource.label.service_name=\\"${e.names.deployables.services.ingress}\\"`,
    );
  });

  test("no metric, policy, channel or dashboard of one stack names another stack's resources", () => {
    for (const stack of STACKS) {
      const others = STACKS.filter((s) => s !== stack).map(env);
      expect(otherStackMarkers(others[0] as EnvironmentRecording, env(stack)).length).toBeGreaterThan(15);
      expect(crossReferences(env(stack), others)).toEqual([]);
    }
  });

  test("the cross-reference check catches a dev policy watching a prod metric", () => {
    const dev = env("dev");
    const prod = env("prod");
    const broken: EnvironmentRecording = {
      ...dev,
      resources: dev.resources.map((r) =>
        r.type === MONITORING.policy && str(r, "displayName").endsWith("messages dead-lettered")
          ? { ...r, inputs: JSON.parse(JSON.stringify(r.inputs).replaceAll("tether-dev-", "tether-prod-")) }
          : r,
      ),
    };
    expect(crossReferences(broken, [prod]).join("\n")).toMatch(/names tether-prod-/);
  });

  test("a wrong-environment dead letter in prod fires prod's critical policy and nothing in dev or staging", () => {
    const prod = env("prod");
    const line = entry(prod.names.deployables.functions.persistAudio, {
      severity: "ERROR",
      environment: "prod",
      conversation_id: "c-1",
      rejection_reason: "wrong_environment",
      dead_letter_message_id: "42",
      message: "message rejected: ...",
    });
    const fired = firedBy(prod, pointsFor(prod, line));
    expect(fired).toEqual(["tether prod: message of another environment dead-lettered"]);
    const critical = logPolicies(prod).find((p) => str(p, "displayName") === fired[0]);
    expect(critical?.inputs.severity).toBe("CRITICAL");
    for (const other of ["dev", "staging"]) expect(pointsFor(env(other), line)).toEqual([]);
  });

  test("every rejection reason counts as a dead letter, and one in staging moves no prod metric", () => {
    const staging = env("staging");
    for (const reason of REJECTION_REASONS) {
      const line = entry(staging.names.deployables.functions.extractSpeakers, {
        environment: "staging",
        rejection_reason: reason,
        dead_letter_message_id: "7",
      });
      const points = pointsFor(staging, line);
      expect(points).toHaveLength(1);
      expect(points[0]).toMatchObject({ metric: { label: { reason } } });
      expect(firedBy(staging, points)).toHaveLength(1);
      expect(pointsFor(env("prod"), line)).toEqual([]);
    }
  });

  test("the line the extraction writes for a person with audio missing fires the audio-missing policy", () => {
    const dev = env("dev");
    const logs = captureLogs();
    logOutcome(
      logs.logger.child({ environment: "dev", conversation_id: "c-2" }),
      notExtracted("person-a", "audio_missing", { ranges: "0-5" }),
    );
    const [line] = logs.lines;
    expect(line).toBeDefined();
    const points = pointsFor(dev, entry(dev.names.deployables.functions.extractSpeakers, line as Document));
    expect(points).toEqual([
      expect.objectContaining({
        metric: expect.objectContaining({ label: { status: "failed", reason: "audio_missing" } }),
      }),
    ]);
    expect(firedBy(dev, points)).toEqual(["tether dev: people not extracted: audio missing"]);
  });
});

describe("the tether:alertChannel setting", () => {
  const read = (value: string | undefined) => {
    const values: Record<string, string | undefined> = {
      ...stackConfigValues("staging"),
      ...requiredKeys("tether-test-staging"),
      "tether:alertChannel": value,
    };
    return () => readStackConfig("staging", (key) => values[key], REPOSITORY_ROOT);
  };

  test("takes an email address or a Pub/Sub topic", () => {
    expect(read("email:oncall@example.com")().alertChannel).toEqual({ kind: "email", address: "oncall@example.com" });
    expect(read("pubsub:projects/acme-ops/topics/pager")().alertChannel).toEqual({
      kind: "pubsub",
      topic: "projects/acme-ops/topics/pager",
    });
  });

  test("is required, and a missing or malformed value names the key and how to set it", () => {
    expect(read(undefined)).toThrow(
      /tether:alertChannel is not set: run `pulumi config set tether:alertChannel email:/,
    );
    expect(read("oncall@example.com")).toThrow(
      /tether:alertChannel must be email:<address> or pubsub:projects\/<project>\/topics\/<topic> \(got "oncall@example.com"\)/,
    );
    expect(read("pubsub:tether-prod-alerts")).toThrow(/tether:alertChannel must be/);
  });
});
