/**
 * Each stack's environment under Pulumi mocks: the resource set, the grants, and the wiring
 * of every deployable to the resources of its own environment.
 *
 * The three stacks are built with their committed stack files, each in its own project.
 */

import { deployableNames } from "../../infra/names";
import { loadSettings } from "../../shared/config";
import type { EnvironmentResources } from "../../shared/environment";
import {
  type EnvironmentRecording,
  grants,
  isIamType,
  isolationViolations,
  obj,
  ofType,
  one,
  orphans,
  physicalIdentity,
  splitByEnvironment,
  str,
  TYPES,
} from "./support/inventory";
import { buildEnvironments, TEST_IMAGE, TEST_REGION } from "./support/program";
import type { RecordedResource, RecordingMocks } from "./support/recording-mocks";
import { STACKS, stackConfigValues } from "./support/stack-files";

const projectOf = (stack: string) => `tether-test-${stack}`;

let mocks: RecordingMocks;
let environments: Map<string, EnvironmentRecording>;

beforeAll(async () => {
  mocks = await buildEnvironments(STACKS.map((stack) => ({ stack, projectId: projectOf(stack) })));
  environments = splitByEnvironment(mocks.resources);
});

function environment(stack: string): EnvironmentRecording {
  const found = environments.get(stack);
  if (found === undefined) throw new Error(`no environment ${stack} was built`);
  return found;
}

test("every resource is created through its environment's own provider, with no lookups", () => {
  expect([...environments.keys()].sort()).toEqual([...STACKS].sort());
  expect(orphans(mocks.resources)).toEqual([]);
  expect(mocks.invokes).toEqual([]);
});

test("nothing anywhere is granted to allUsers or allAuthenticatedUsers", () => {
  const everything = JSON.stringify(mocks.resources.map((r) => r.inputs));
  expect(everything).not.toMatch(/allUsers|allAuthenticatedUsers/);
});

/** The workers as the issue describes them: the test's own statement, not infra's table. */
const WORKERS = [
  {
    function: "persistAudio",
    entryPoint: "persistAudio",
    topic: "audio",
    subscription: "persistAudio",
    account: "persistAudio",
    ordered: false,
  },
  {
    function: "processEvents",
    entryPoint: "processEvents",
    topic: "events",
    subscription: "events",
    account: "events",
    ordered: false,
  },
  {
    function: "extractSpeakers",
    entryPoint: "extractSpeakers",
    topic: "extraction",
    subscription: "extractSpeakers",
    account: "extractSpeakers",
    ordered: false,
  },
] as const;

function expectedNamedResources(n: EnvironmentResources, region: string): string[] {
  const p = n.projectId;
  const d = deployableNames(n);
  return [
    `bucket ${n.bucket}`,
    `bucket ${d.functionSourceBucket}`,
    `database ${p}/${n.databaseId}`,
    `secret ${p}/${n.tokenSecret}`,
    ...Object.values(n.topics).map((t) => `topic ${p}/${t}`),
    ...Object.values(n.subscriptions).map((s) => `subscription ${p}/${s}`),
    ...Object.values(n.serviceAccounts).map((a) => `service account ${p}/${a}`),
    ...Object.values(d.buildServiceAccounts).map((a) => `service account ${p}/${a}`),
    `repository ${p}/${region}/${d.functionImageRepository}`,
    ...Object.values(d.functions).map((f) => `run service ${p}/${region}/${f}`),
    ...Object.values(d.services).map((s) => `run service ${p}/${region}/${s}`),
  ].sort();
}

/** Every grant an environment should hold: least privilege, spelled out. */
function expectedGrants(n: EnvironmentResources, region: string): string[] {
  const p = n.projectId;
  const d = deployableNames(n);
  const sa = (account: keyof EnvironmentResources["serviceAccounts"]) =>
    `serviceAccount:${n.serviceAccounts[account]}@${p}.iam.gserviceaccount.com`;
  const topic = (key: keyof EnvironmentResources["topics"]) => `projects/${p}/topics/${n.topics[key]}`;
  const fn = (key: keyof typeof d.functions) => `projects/${p}/locations/${region}/services/${d.functions[key]}`;
  const bucket = `buckets/${n.bucket}`;
  const secret = `projects/${p}/secrets/${n.tokenSecret}`;
  const database = `projects/${p} if ${n.databaseId}`;
  return [
    `${sa("ingress")} roles/pubsub.publisher ${topic("audio")}`,
    `${sa("ingress")} roles/pubsub.publisher ${topic("events")}`,
    `${sa("ingress")} roles/datastore.user ${database}`,
    `${sa("ingress")} roles/secretmanager.secretAccessor ${secret}`,
    `${sa("persistAudio")} roles/pubsub.publisher ${topic("extraction")}`,
    `${sa("persistAudio")} roles/pubsub.publisher ${topic("deadLetter")}`,
    `${sa("persistAudio")} roles/pubsub.publisher ${topic("notifications")}`,
    `${sa("persistAudio")} roles/storage.objectUser ${bucket}`,
    `${sa("persistAudio")} roles/datastore.user ${database}`,
    `${sa("persistAudio")} roles/run.invoker ${fn("persistAudio")}`,
    `${sa("events")} roles/pubsub.publisher ${topic("extraction")}`,
    `${sa("events")} roles/pubsub.publisher ${topic("deadLetter")}`,
    `${sa("events")} roles/pubsub.publisher ${topic("notifications")}`,
    `${sa("events")} roles/pubsub.publisher ${topic("deletion")}`, // re-purges a conversation deleted mid-event
    `${sa("events")} roles/datastore.user ${database}`,
    `${sa("events")} roles/run.invoker ${fn("processEvents")}`,
    `${sa("extractSpeakers")} roles/pubsub.publisher ${topic("deadLetter")}`,
    `${sa("extractSpeakers")} roles/pubsub.publisher ${topic("notifications")}`,
    `${sa("extractSpeakers")} roles/storage.objectUser ${bucket}`,
    `${sa("extractSpeakers")} roles/datastore.user ${database}`,
    `${sa("extractSpeakers")} roles/run.invoker ${fn("extractSpeakers")}`,
    `${sa("api")} roles/storage.objectViewer ${bucket}`,
    // A DELETE writes the tombstone and asks the delete-data worker; the API deletes nothing.
    `${sa("api")} roles/datastore.user ${database}`,
    `${sa("api")} roles/pubsub.publisher ${topic("deletion")}`,
    `${sa("deletion")} roles/pubsub.publisher ${topic("deletion")}`,
    `${sa("deletion")} roles/pubsub.publisher ${topic("deadLetter")}`,
    `${sa("deletion")} roles/pubsub.publisher ${topic("notifications")}`,
    `${sa("deletion")} roles/storage.objectUser ${bucket}`,
    `${sa("deletion")} roles/datastore.user ${database}`,
    `${sa("deletion")} roles/run.invoker ${fn("deleteData")}`,
    `${sa("api")} roles/secretmanager.secretAccessor ${secret}`,
    // Each function's build (infra/build.ts).
    ...Object.values(d.buildServiceAccounts).flatMap((id) => {
      const build = `serviceAccount:${id}@${p}.iam.gserviceaccount.com`;
      return [
        `${build} roles/storage.objectViewer buckets/${d.functionSourceBucket}`,
        `${build} roles/artifactregistry.writer projects/${p}/locations/${region}/repositories/${d.functionImageRepository}`,
        `${build} roles/logging.logWriter projects/${p}`,
      ];
    }),
    // No subscription dead-letters by itself, so the Pub/Sub agent holds nothing.
  ].sort();
}

/** The variables a deployable runs with, plain values only. */
function plainSettings(record: RecordedResource): Record<string, string> {
  if (record.type === TYPES.function) {
    return obj(obj(record.inputs.serviceConfig).environmentVariables) as Record<string, string>;
  }
  const container = (obj(record.inputs.template).containers as Record<string, unknown>[])[0] ?? {};
  const envs = container.envs as { name: string; value?: string }[];
  // The token key ids are the token services' own (checked with their keys below).
  const shared = envs.filter((e) => e.value !== undefined && !e.name.startsWith("TETHER_TOKEN_"));
  return Object.fromEntries(shared.map((e) => [e.name, e.value as string]));
}

function container(service: RecordedResource): Record<string, unknown> {
  const containers = obj(service.inputs.template).containers as Record<string, unknown>[];
  expect(containers).toHaveLength(1);
  return containers[0] as Record<string, unknown>;
}

describe.each(STACKS)("stack %s", (stack) => {
  const project = projectOf(stack);
  const env = () => environment(stack);
  const names = () => env().names;
  const byName = (type: string, name: string) => one(env(), type, (r) => r.inputs.name === name);
  const account = (key: keyof EnvironmentResources["serviceAccounts"]) =>
    one(env(), TYPES.account, (r) => r.inputs.accountId === names().serviceAccounts[key]);
  const deployables = () => [...ofType(env(), TYPES.function), ...ofType(env(), TYPES.runService)];

  test("its provider is pinned to the stack's project and region, labelled with the environment", () => {
    expect(env().provider.inputs).toMatchObject({ project, region: TEST_REGION });
    expect(obj(env().provider.inputs.defaultLabels)).toEqual({ "tether-environment": stack });
    expect(names().environment).toBe(stack);
  });

  test("every resource names the stack's project explicitly", () => {
    const withoutProject = env().resources.filter(
      (r) =>
        r.inputs.project !== project &&
        r.type !== TYPES.bucketIam &&
        r.type !== TYPES.bucketObject &&
        r.type !== TYPES.secretVersion,
    );
    expect(withoutProject.map((r) => `${r.type} ${r.name}: ${String(r.inputs.project)}`)).toEqual([]);
  });

  test("creates exactly the environment's resources, named by the naming module", () => {
    const named = env()
      .resources.filter((r) => r.type !== TYPES.bucketObject)
      .map(physicalIdentity)
      .filter((identity): identity is string => identity !== undefined)
      .sort();
    expect(named).toEqual(expectedNamedResources(names(), TEST_REGION));
    const count = (type: string) => ofType(env(), type).length;
    expect(count(TYPES.bucketObject)).toBe(1);
    expect(count(TYPES.secretVersion)).toBe(1);
    expect(count(TYPES.serviceIdentity)).toBe(1);
    // Alerting and the dashboard: their names, filters and scope are monitoring.test.ts's.
    const monitoring = [
      "gcp:monitoring/notificationChannel:NotificationChannel",
      "gcp:logging/metric:Metric",
      "gcp:monitoring/dashboard:Dashboard",
      "gcp:monitoring/alertPolicy:AlertPolicy",
    ];
    const known = new Set<string>([...Object.values(TYPES), ...monitoring]);
    expect(
      env()
        .resources.filter((r) => !known.has(r.type))
        .map((r) => r.type),
    ).toEqual([]);
  });

  test("grants each component exactly what it needs, on this environment's resources", () => {
    const actual = grants(env())
      .map((g) => {
        const target =
          g.condition === undefined
            ? g.target
            : `${g.target} if ${g.condition.expression.split("/databases/")[1]?.replace(/"$/, "")}`;
        return `${g.member} ${g.role} ${target}`;
      })
      .sort();
    expect(actual).toEqual(expectedGrants(names(), TEST_REGION));
  });

  test("only additive IAM members: no authoritative bindings or policies", () => {
    const iamTypes = new Set(
      env()
        .resources.filter((r) => isIamType(r.type))
        .map((r) => r.type),
    );
    for (const type of iamTypes) expect(type).toMatch(/IAMMember|IamMember/);
  });

  test("project-level grants are Firestore roles conditioned on exactly this environment's database, and build logs", () => {
    const projectGrants = grants(env()).filter(
      (g) => g.target === `projects/${project}` && g.role !== "roles/logging.logWriter",
    );
    expect(projectGrants.length).toBeGreaterThan(0);
    for (const grant of projectGrants) {
      expect(["roles/datastore.user", "roles/datastore.viewer"]).toContain(grant.role);
      expect(grant.condition?.expression).toBe(
        `resource.name == "projects/${project}/databases/${names().databaseId}"`,
      );
    }
  });

  test("breaks no isolation rule", () => {
    const others = [...environments.values()].filter((other) => other !== env());
    expect(isolationViolations(env(), others)).toEqual([]);
  });

  test("the audio bucket: uniform access, public access prevention, lifecycle from the stack file", () => {
    const bucket = byName(TYPES.bucket, names().bucket);
    expect(bucket.inputs).toMatchObject({ uniformBucketLevelAccess: true, publicAccessPrevention: "enforced" });
    const values = stackConfigValues(stack);
    const expected: unknown[] = [{ action: { type: "AbortIncompleteMultipartUpload" }, condition: { age: 7 } }];
    const coldline = values["tether:audioColdlineAfterDays"];
    if (coldline !== undefined) {
      expected.push({
        action: { type: "SetStorageClass", storageClass: "COLDLINE" },
        condition: { age: Number(coldline), matchesStorageClasses: ["STANDARD"] },
      });
    }
    // No Delete rule: retention deletes whole conversations (records too) through the delete path.
    expect(bucket.inputs.lifecycleRules).toEqual(expected);
  });

  test("retention: a daily scheduler job publishes the retention run to the deletion topic, when the stack sets it", () => {
    const days = stackConfigValues(stack)["tether:retentionDays"];
    const jobs = ofType(env(), TYPES.schedulerJob);
    if (days === undefined) {
      expect(jobs).toEqual([]);
      return;
    }
    expect(jobs).toHaveLength(1);
    const target = obj(jobs[0]?.inputs.pubsubTarget);
    expect(target.topicName).toBe(`projects/${project}/topics/${names().topics.deletion}`);
    expect(target.attributes).toEqual({ environment: stack, kind: "retention" });
    expect(JSON.parse(Buffer.from(String(target.data), "base64").toString("utf8"))).toEqual({
      kind: "retention",
      retention_days: Number(days),
    });
  });

  test("the function source bucket is private too", () => {
    const bucket = byName(TYPES.bucket, deployableNames(names()).functionSourceBucket);
    expect(bucket.inputs).toMatchObject({ uniformBucketLevelAccess: true, publicAccessPrevention: "enforced" });
  });

  test("data is protected in prod and disposable elsewhere", () => {
    const protect = stack === "prod";
    expect(byName(TYPES.bucket, names().bucket).inputs.forceDestroy).toBe(!protect);
    expect(byName(TYPES.database, names().databaseId).inputs).toMatchObject({
      type: "FIRESTORE_NATIVE",
      deleteProtectionState: protect ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED",
      deletionPolicy: protect ? "ABANDON" : "DELETE",
    });
    expect(one(env(), TYPES.secret, () => true).inputs.deletionProtection).toBe(protect);
  });

  test("the token-signing key reaches Secret Manager as a Pulumi secret", () => {
    const version = one(env(), TYPES.secretVersion, () => true);
    expect(version.inputs.secret).toBe(`projects/${project}/secrets/${names().tokenSecret}`);
    // A secret input arrives wrapped ({<signature>: <secret sig>, value}), never as a bare string.
    expect(typeof version.inputs.secretData).toBe("object");
  });

  describe.each(WORKERS)("worker $function", (worker) => {
    const fn = () => byName(TYPES.function, deployableNames(names()).functions[worker.function]);
    const subscription = () => byName(TYPES.subscription, names().subscriptions[worker.subscription]);
    const uri = () => String(obj(fn().state.serviceConfig).uri);

    test("is a nodejs22 Cloud Function built from the uploaded source of this environment", () => {
      const build = obj(fn().inputs.buildConfig);
      expect(build.runtime).toBe("nodejs22");
      expect(build.entryPoint).toBe(worker.entryPoint);
      expect(obj(build.environmentVariables).GOOGLE_NODE_RUN_SCRIPTS).toBe(""); // dist/ is prebuilt
      const source = obj(obj(build.source).storageSource);
      const object = one(env(), TYPES.bucketObject, () => true);
      expect(source.bucket).toBe(deployableNames(names()).functionSourceBucket);
      expect(source.bucket).toBe(object.inputs.bucket);
      expect(source.object).toBe(object.inputs.name);
      expect(fn().inputs.location).toBe(TEST_REGION);
    });

    test("runs as its own account, reachable only internally", () => {
      const service = obj(fn().inputs.serviceConfig);
      expect(service.serviceAccountEmail).toBe(str(account(worker.account), "email", "state"));
      expect(service.ingressSettings).toBe("ALLOW_INTERNAL_ONLY");
    });

    test("its subscription: own topic, retried for as long as it fails (no dead-letter policy), exponential retry, never expires", () => {
      const inputs = subscription().inputs;
      expect(inputs.topic).toBe(`projects/${project}/topics/${names().topics[worker.topic]}`);
      expect(inputs.deadLetterPolicy).toBeUndefined();
      expect(inputs.retryPolicy).toEqual({ minimumBackoff: "10s", maximumBackoff: "600s" });
      expect(inputs.messageRetentionDuration).toBe("2678400s");
      expect(inputs.enableMessageOrdering).toBe(worker.ordered);
      expect(inputs.expirationPolicy).toEqual({ ttl: "" });
      expect(inputs.ackDeadlineSeconds).toBeGreaterThanOrEqual(Number(obj(fn().inputs.serviceConfig).timeoutSeconds));
      expect(inputs.ackDeadlineSeconds).toBeLessThanOrEqual(600);
    });

    test("its subscription pushes to this function, as the function's own account, for the topic it reads", () => {
      const push = obj(subscription().inputs.pushConfig);
      expect(push.pushEndpoint).toBe(`${uri()}/projects/${project}/topics/${names().topics[worker.topic]}`);
      expect(push.oidcToken).toEqual({
        serviceAccountEmail: str(account(worker.account), "email", "state"),
        audience: uri(),
      });
    });
  });

  test("the dead-letter topic keeps its messages in a pull subscription", () => {
    const store = byName(TYPES.subscription, names().subscriptions.deadLetter);
    expect(store.inputs.topic).toBe(`projects/${project}/topics/${names().topics.deadLetter}`);
    expect(store.inputs.pushConfig).toBeUndefined();
    expect(store.inputs.deadLetterPolicy).toBeUndefined();
    expect(store.inputs.expirationPolicy).toEqual({ ttl: "" });
  });

  test("every deployable gets the same settings, wired from the created bucket", () => {
    const bucket = byName(TYPES.bucket, names().bucket);
    const settings = deployables().map(plainSettings);
    expect(settings).toHaveLength(6);
    for (const each of settings) {
      expect(each).toEqual(settings[0]);
      expect(each.TETHER_ENVIRONMENT).toBe(stack);
      expect(each.TETHER_PROJECT_ID).toBe(project);
      expect(each.TETHER_BUCKET).toBe(bucket.inputs.name);
    }
    expect(settings[0]?.LOG_LEVEL).toBe(stackConfigValues(stack)["tether:logLevel"]);
  });

  test("the code, reading those settings, finds exactly the bucket, topics and database this stack created", () => {
    const resolved = loadSettings(plainSettings(deployables()[0] as RecordedResource)).resources;
    expect(resolved.environment).toBe(stack);
    expect(resolved.bucket).toBe(byName(TYPES.bucket, names().bucket).inputs.name);
    expect(resolved.databaseId).toBe(one(env(), TYPES.database, () => true).inputs.name);
    const topics = ofType(env(), TYPES.topic).map((t) => str(t, "name"));
    expect(Object.values(resolved.topics).sort()).toEqual(topics.sort());
    const subscriptions = ofType(env(), TYPES.subscription).map((s) => str(s, "name"));
    expect(Object.values(resolved.subscriptions).sort()).toEqual(subscriptions.sort());
    const accounts = ofType(env(), TYPES.account).map((a) => str(a, "accountId"));
    const builds = Object.values(resolved.deployables.buildServiceAccounts);
    expect([...Object.values(resolved.serviceAccounts), ...builds].sort()).toEqual(accounts.sort());
  });

  test("the ingress: Cloud Run, 3600 s requests, session affinity, many sockets per instance, public without allUsers", () => {
    const ingress = byName(TYPES.runService, deployableNames(names()).services.ingress);
    const template = obj(ingress.inputs.template);
    expect(template.timeout).toBe("3600s");
    expect(template.sessionAffinity).toBe(true);
    expect(Number(template.maxInstanceRequestConcurrency)).toBeGreaterThan(80);
    expect(template.serviceAccount).toBe(str(account("ingress"), "email", "state"));
    expect(ingress.inputs.invokerIamDisabled).toBe(true);
    const main = container(ingress);
    expect(main.image).toBe(TEST_IMAGE);
    expect(main.commands).toBeUndefined(); // the image's CMD: node dist/functions/ingress/main.js
    expect(obj(main.resources).cpuIdle).toBe(false);
  });

  test("the ingress and the API read the token key from this environment's secret", () => {
    for (const service of ofType(env(), TYPES.runService)) {
      const envs = container(service).envs as Record<string, unknown>[];
      const keys = envs.filter((e) => String(e.name).startsWith("TETHER_TOKEN_"));
      expect(keys).toEqual([
        { name: "TETHER_TOKEN_SECRET", valueSource: { secretKeyRef: { secret: names().tokenSecret, version: "1" } } },
        { name: "TETHER_TOKEN_KID", value: "k1" },
      ]);
    }
    for (const fn of ofType(env(), TYPES.function)) expect(plainSettings(fn).TETHER_TOKEN_SECRET).toBeUndefined();
  });

  test("the API: the plain server of functions/api/main.ts from the same image, as the API account", () => {
    const api = byName(TYPES.runService, deployableNames(names()).services.api);
    const main = container(api);
    expect(main.image).toBe(TEST_IMAGE);
    expect(main.commands).toEqual(["node"]);
    expect(main.args).toEqual(["dist/functions/api/main.js"]);
    expect(obj(api.inputs.template).serviceAccount).toBe(str(account("api"), "email", "state"));
    expect(api.inputs.invokerIamDisabled).toBe(true);
  });
});
