/**
 * The pipeline declaration (shared/pipeline.ts) is the one source of the deployed
 * subscriptions and grants, of the local provisioning and of the workers' bindings.
 *
 * The Pulumi program runs under mocks twice side by side: once with the declaration as
 * committed, once with a changed copy (the events subscription ordered, extract-speakers
 * also publishing to the events topic, persist-audio's subscription with a dead-letter
 * policy). Each recording is read back into the facts the declaration states and compared
 * with them, and so is the local provisioning plan; then the changes are shown to move the
 * program, the grants and the local stack together.
 */
import { workerBindings } from "../../functions/workers";
import { localProvisioning } from "../../local/provision";
import type { EnvironmentResources } from "../../shared/environment";
import { PIPELINE, type Pipeline, pipelineProblems, type Site, subscriptionSettings } from "../../shared/pipeline";
import { type PermissionOf, permissionsOf } from "../../shared/pipeline-permissions";
import {
  type EnvironmentRecording,
  grants,
  obj,
  ofType,
  pubsubAgentMember,
  splitByEnvironment,
  str,
  TYPES,
} from "./support/inventory";
import { buildEnvironments, TEST_REGION } from "./support/program";

/** The committed declaration with three deliberate changes. */
function changedPipeline(): Pipeline {
  const copy = structuredClone(PIPELINE) as { -readonly [K in keyof Pipeline]: Record<string, unknown> };
  const subscriptions = copy.subscriptions as Record<string, Record<string, unknown>>;
  const components = copy.components as Record<string, Record<string, unknown>>;
  (subscriptions.events as Record<string, unknown>).ordered = true;
  (subscriptions.persistAudio as Record<string, unknown>).deadLetter = { topic: "deadLetter", maxDeliveryAttempts: 7 };
  (components.extractSpeakers as Record<string, unknown>).publishes = [
    ...PIPELINE.components.extractSpeakers.publishes,
    "events",
  ];
  return copy as unknown as Pipeline;
}

/** A subscription's delivery, as one line, from whichever side describes it. */
interface Delivery {
  readonly topic: string;
  readonly ordered: boolean;
  readonly ackDeadlineSeconds: number;
  readonly retry: string;
  readonly deadLetter: string;
  readonly retentionSeconds: number;
}

function declaredDeliveries(pipeline: Pipeline, site: Site, names: EnvironmentResources): Record<string, Delivery> {
  return Object.fromEntries(
    subscriptionSettings(pipeline, site).map((s) => [
      names.subscriptions[s.key],
      {
        topic: names.topics[s.topic],
        ordered: s.ordered,
        ackDeadlineSeconds: s.ackDeadlineSeconds,
        retry: s.retry === undefined ? "none" : `${s.retry.minimumSeconds}..${s.retry.maximumSeconds}`,
        deadLetter:
          s.deadLetter === undefined
            ? "none"
            : `${names.topics[s.deadLetter.topic]} after ${s.deadLetter.maxDeliveryAttempts}`,
        retentionSeconds: s.retentionSeconds,
      },
    ]),
  );
}

const lastPart = (path: string) => path.split("/").pop() ?? path;
const seconds = (duration: unknown) => Number(String(duration).replace(/s$/, ""));

function deployedDeliveries(recording: EnvironmentRecording): Record<string, Delivery> {
  return Object.fromEntries(
    ofType(recording, TYPES.subscription).map((record) => {
      const inputs = record.inputs;
      const retry = inputs.retryPolicy === undefined ? undefined : obj(inputs.retryPolicy);
      const deadLetter = inputs.deadLetterPolicy === undefined ? undefined : obj(inputs.deadLetterPolicy);
      return [
        str(record, "name"),
        {
          topic: lastPart(str(record, "topic")),
          ordered: inputs.enableMessageOrdering === true,
          ackDeadlineSeconds: Number(inputs.ackDeadlineSeconds),
          retry: retry === undefined ? "none" : `${seconds(retry.minimumBackoff)}..${seconds(retry.maximumBackoff)}`,
          deadLetter:
            deadLetter === undefined
              ? "none"
              : `${lastPart(String(deadLetter.deadLetterTopic))} after ${deadLetter.maxDeliveryAttempts}`,
          retentionSeconds: seconds(inputs.messageRetentionDuration),
        },
      ];
    }),
  );
}

function localDeliveries(pipeline: Pipeline, names: EnvironmentResources): Record<string, Delivery> {
  return Object.fromEntries(
    localProvisioning(names, pipeline).subscriptions.map(({ name, topic, options }) => [
      name,
      {
        topic,
        ordered: options.enableMessageOrdering,
        ackDeadlineSeconds: options.ackDeadlineSeconds,
        retry:
          options.retryPolicy === undefined
            ? "none"
            : `${options.retryPolicy.minimumBackoff.seconds}..${options.retryPolicy.maximumBackoff.seconds}`,
        deadLetter:
          options.deadLetterPolicy === undefined
            ? "none"
            : `${lastPart(options.deadLetterPolicy.deadLetterTopic)} after ${options.deadLetterPolicy.maxDeliveryAttempts}`,
        retentionSeconds: options.messageRetentionDuration.seconds,
      },
    ]),
  );
}

/**
 * The IAM member each declared permission must become, spelled by this test (not by
 * infra/access.ts): `<member> <role> <target>`.
 */
function expectedGrant(recording: EnvironmentRecording, { principal, permission }: PermissionOf): string {
  const n = recording.names;
  const p = n.projectId;
  const member =
    principal === "pubsubAgent"
      ? pubsubAgentMember(recording)
      : `serviceAccount:${n.serviceAccounts[principal]}@${p}.iam.gserviceaccount.com`;
  const target = (role: string, on: string) => `${member} ${role} ${on}`;
  const levelRole = (level: "read" | "readWrite", read: string, write: string) =>
    level === "readWrite" ? write : read;
  switch (permission.kind) {
    case "publish":
      return target("roles/pubsub.publisher", `projects/${p}/topics/${n.topics[permission.topic]}`);
    case "subscribe":
      return target(
        "roles/pubsub.subscriber",
        `projects/${p}/subscriptions/${n.subscriptions[permission.subscription]}`,
      );
    case "bucket":
      return target(
        levelRole(permission.level, "roles/storage.objectViewer", "roles/storage.objectUser"),
        `buckets/${n.bucket}`,
      );
    case "database":
      return target(
        levelRole(permission.level, "roles/datastore.viewer", "roles/datastore.user"),
        `projects/${p} if ${n.databaseId}`,
      );
    case "tokenSecret":
      return target("roles/secretmanager.secretAccessor", `projects/${p}/secrets/${n.tokenSecret}`);
    case "invoke":
      return target(
        "roles/run.invoker",
        `projects/${p}/locations/${TEST_REGION}/services/${n.deployables.functions[permission.function]}`,
      );
  }
}

/** The components' grants; the builds' (infra/build.ts, not the pipeline's) are environments.test.ts's. */
function recordedGrants(recording: EnvironmentRecording): string[] {
  const builds = Object.values(recording.names.deployables.buildServiceAccounts).map(
    (id) => `serviceAccount:${id}@${recording.names.projectId}.iam.gserviceaccount.com`,
  );
  return grants(recording)
    .filter((g) => !builds.includes(g.member))
    .map((g) => {
      const target =
        g.condition === undefined
          ? g.target
          : `${g.target} if ${g.condition.expression.split("/databases/")[1]?.replace(/"$/, "")}`;
      return `${g.member} ${g.role} ${target}`;
    })
    .sort();
}

function declaredGrants(recording: EnvironmentRecording, pipeline: Pipeline): string[] {
  return permissionsOf(pipeline)
    .map((permission) => expectedGrant(recording, permission))
    .sort();
}

/** The workers the deployed program built: entry point, account, subscription and topic. */
function deployedWorkers(recording: EnvironmentRecording): string[] {
  const n = recording.names;
  const subscriptions = ofType(recording, TYPES.subscription);
  return ofType(recording, TYPES.function)
    .map((fn) => {
      const entryPoint = String(obj(fn.inputs.buildConfig).entryPoint);
      const account = String(obj(fn.inputs.serviceConfig).serviceAccountEmail).split("@")[0];
      const uri = String(obj(fn.state.serviceConfig).uri);
      const pushedBy = subscriptions.find(
        (s) => s.inputs.pushConfig !== undefined && String(obj(s.inputs.pushConfig).pushEndpoint).startsWith(uri),
      );
      const subscription = pushedBy === undefined ? "none" : str(pushedBy, "name");
      const topic = pushedBy === undefined ? "none" : lastPart(str(pushedBy, "topic"));
      return `${entryPoint} as ${account} from ${subscription} on ${topic} (timeout ${obj(fn.inputs.serviceConfig).timeoutSeconds})`;
    })
    .sort()
    .map((line) => line.replaceAll(`${n.projectId}`, "<project>"));
}

function declaredWorkers(pipeline: Pipeline, names: EnvironmentResources): string[] {
  return workerBindings(pipeline)
    .map(
      (b) =>
        `${b.name} as ${names.serviceAccounts[b.worker.component]} from ${names.subscriptions[b.subscription]} on ${names.topics[b.topic]} (timeout ${b.worker.delivery.ackDeadlineSeconds})`,
    )
    .sort();
}

const changed = changedPipeline();
let committed: EnvironmentRecording;
let modified: EnvironmentRecording;

beforeAll(async () => {
  const mocks = await buildEnvironments([
    { stack: "dev", projectId: "tether-test-pipeline-a" },
    { stack: "staging", projectId: "tether-test-pipeline-b", pipeline: changed },
  ]);
  const environments = splitByEnvironment(mocks.resources);
  const found = [environments.get("dev"), environments.get("staging")];
  if (found[0] === undefined || found[1] === undefined) throw new Error("both environments must be built");
  [committed, modified] = found as [EnvironmentRecording, EnvironmentRecording];
});

test("the committed declaration is sound, and so is the changed copy", () => {
  expect(pipelineProblems(PIPELINE)).toEqual([]);
  expect(pipelineProblems(changed)).toEqual([]);
});

test("no subscription is ordered and no worker subscription dead-letters by itself", () => {
  for (const site of ["deployed", "local"] as const) {
    for (const s of subscriptionSettings(PIPELINE, site)) {
      expect([s.key, s.ordered, s.deadLetter]).toEqual([s.key, false, undefined]);
    }
  }
});

test("every worker that completes finalization may publish the extraction request it makes", () => {
  const publishers = permissionsOf(PIPELINE)
    .filter((p) => p.permission.kind === "publish" && p.permission.topic === "extraction")
    .map((p) => p.principal)
    .sort();
  expect(publishers).toEqual(["events", "persistAudio"]);
});

describe.each([
  ["the committed declaration", () => PIPELINE, () => committed],
  ["a changed declaration", () => changed, () => modified],
])("%s", (_label, pipeline, recording) => {
  test("the Pulumi program grants exactly what the declaration derives, on this environment", () => {
    expect(recordedGrants(recording())).toEqual(declaredGrants(recording(), pipeline()));
  });

  test("the Pulumi program's subscriptions are the declared ones", () => {
    expect(deployedDeliveries(recording())).toEqual(declaredDeliveries(pipeline(), "deployed", recording().names));
  });

  test("the local stack provisions the declared subscriptions, with the local retry backoff", () => {
    expect(localDeliveries(pipeline(), recording().names)).toEqual(
      declaredDeliveries(pipeline(), "local", recording().names),
    );
  });

  test("the deployed functions and the local bindings are the declared workers", () => {
    expect(deployedWorkers(recording())).toEqual(declaredWorkers(pipeline(), recording().names));
  });
});

describe("changing the declaration changes the program, the grants and the local stack together", () => {
  const subscriptionOf = (recording: EnvironmentRecording, key: keyof EnvironmentResources["subscriptions"]) =>
    deployedDeliveries(recording)[recording.names.subscriptions[key]];
  const localOf = (
    pipeline: Pipeline,
    recording: EnvironmentRecording,
    key: keyof EnvironmentResources["subscriptions"],
  ) => localDeliveries(pipeline, recording.names)[recording.names.subscriptions[key]];
  const sa = (recording: EnvironmentRecording, key: keyof EnvironmentResources["serviceAccounts"]) =>
    `serviceAccount:${recording.names.serviceAccounts[key]}@${recording.names.projectId}.iam.gserviceaccount.com`;

  test("ordering the events subscription orders it when deployed and locally", () => {
    expect(subscriptionOf(committed, "events")?.ordered).toBe(false);
    expect(localOf(PIPELINE, committed, "events")?.ordered).toBe(false);
    expect(subscriptionOf(modified, "events")?.ordered).toBe(true);
    expect(localOf(changed, modified, "events")?.ordered).toBe(true);
  });

  test("a new publish target of extract-speakers becomes its publisher grant", () => {
    const publishesEvents = (recording: EnvironmentRecording) =>
      recordedGrants(recording).includes(
        `${sa(recording, "extractSpeakers")} roles/pubsub.publisher projects/${recording.names.projectId}/topics/${recording.names.topics.events}`,
      );
    expect(publishesEvents(committed)).toBe(false);
    expect(publishesEvents(modified)).toBe(true);
  });

  test("a dead-letter policy appears on both sides, and the Pub/Sub agent is granted exactly what it needs", () => {
    expect(subscriptionOf(committed, "persistAudio")?.deadLetter).toBe("none");
    expect(localOf(PIPELINE, committed, "persistAudio")?.deadLetter).toBe("none");
    const expected = `${modified.names.topics.deadLetter} after 7`;
    expect(subscriptionOf(modified, "persistAudio")?.deadLetter).toBe(expected);
    expect(localOf(changed, modified, "persistAudio")?.deadLetter).toBe(expected);

    const agentGrants = (recording: EnvironmentRecording) =>
      recordedGrants(recording).filter((g) => g.startsWith(`${pubsubAgentMember(recording)} `));
    const p = modified.names.projectId;
    expect(agentGrants(committed)).toEqual([]);
    expect(agentGrants(modified)).toEqual(
      [
        `${pubsubAgentMember(modified)} roles/pubsub.publisher projects/${p}/topics/${modified.names.topics.deadLetter}`,
        `${pubsubAgentMember(modified)} roles/pubsub.subscriber projects/${p}/subscriptions/${modified.names.subscriptions.persistAudio}`,
      ].sort(),
    );
  });

  test("nothing else differs between the two recordings' grants", () => {
    const normalise = (recording: EnvironmentRecording) =>
      recordedGrants(recording).map((g) =>
        g
          .replace(pubsubAgentMember(recording), "<agent>")
          .replaceAll(recording.names.projectId, "<project>")
          .replaceAll(`tether-${recording.names.environment}`, "tether-<env>")
          .replaceAll(`${recording.names.environment}-`, "<env>-"),
      );
    const before = new Set(normalise(committed));
    const after = normalise(modified);
    expect(after.filter((g) => !before.has(g)).sort()).toEqual(
      [
        "serviceAccount:<env>-extract@<project>.iam.gserviceaccount.com roles/pubsub.publisher projects/<project>/topics/tether-<env>-events",
        "<agent> roles/pubsub.publisher projects/<project>/topics/tether-<env>-dead-letter",
        "<agent> roles/pubsub.subscriber projects/<project>/subscriptions/tether-<env>-persist-audio",
      ].sort(),
    );
    expect([...before].filter((g) => !after.includes(g))).toEqual([]);
  });
});
