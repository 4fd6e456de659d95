/**
 * What the first `pulumi up` on a blank project needs, under Pulumi mocks, for every stack:
 * the APIs enabled by the program and waited for; the conversation list's Firestore index;
 * a least-privilege build account per function; a backlog-age alert per worker
 * subscription; protected prod messaging; and the two-phase alert rollout that
 * infra/README.md walks through.
 */
import fs from "node:fs";
import path from "node:path";
import { ALERTS } from "../../infra/alerts";
import { APIS_BY_MODULE, BOOTSTRAP_API, REQUIRED_APIS } from "../../infra/apis";
import { backlogAgeThresholdSeconds, OLDEST_UNACKED_AGE_METRIC } from "../../infra/backlog-alerts";
import { CONFIG_KEYS } from "../../infra/config";
import { FIRESTORE_INDEXES } from "../../shared/firestore-indexes";
import { PIPELINE, workersOf } from "../../shared/pipeline";
import { type EnvironmentRecording, obj, ofType, one, splitByEnvironment, str, TYPES } from "./support/inventory";
import { buildEnvironments } from "./support/program";
import { PROVIDER_TYPE, type RecordedResource } from "./support/recording-mocks";
import { REPOSITORY_ROOT, STACKS } from "./support/stack-files";

const POLICY = "gcp:monitoring/alertPolicy:AlertPolicy";
const METRIC = "gcp:logging/metric:Metric";

let environments: Map<string, EnvironmentRecording>;
let firstPhase: EnvironmentRecording;

beforeAll(async () => {
  const mocks = await buildEnvironments(STACKS.map((stack) => ({ stack, projectId: `tether-test-${stack}` })));
  environments = splitByEnvironment(mocks.resources);
  // A blank project's first apply: alert policies on log-based metrics held back.
  const blank = await buildEnvironments([
    { stack: "prod", projectId: "tether-test-blank", config: { [CONFIG_KEYS.alertPolicies]: "false" } },
  ]);
  firstPhase = splitByEnvironment(blank.resources).get("prod") as EnvironmentRecording;
});

const env = (stack: string) => environments.get(stack) as EnvironmentRecording;

/** Every logical name `record` waits for, directly or through what it waits for. */
function waitsFor(recording: EnvironmentRecording, record: RecordedResource): Set<string> {
  const byName = new Map(recording.resources.map((r) => [r.name, r]));
  const seen = new Set<string>();
  const pending = [...record.dependencies];
  while (pending.length > 0) {
    const name = pending.pop() as string;
    if (seen.has(name)) continue;
    seen.add(name);
    pending.push(...(byName.get(name)?.dependencies ?? []));
  }
  return seen;
}

describe.each(STACKS)("stack %s", (stack) => {
  test("enables every API its resource types need, and every resource waits for them", () => {
    const e = env(stack);
    const modules = new Set(e.resources.map((r) => r.type.split(":")[1]?.split("/")[0] ?? r.type));
    expect([...modules].filter((m) => APIS_BY_MODULE[m] === undefined)).toEqual([]);
    const needed = new Set([...modules].flatMap((m) => APIS_BY_MODULE[m] ?? []));
    const services = ofType(e, TYPES.projectService);
    const enabled = services.map((s) => str(s, "service")).sort();
    expect(enabled).toEqual([...REQUIRED_APIS]);
    expect([...needed].filter((api) => !enabled.includes(api))).toEqual([]);
    expect(REQUIRED_APIS).not.toContain(BOOTSTRAP_API);
    for (const service of services) expect(service.inputs).toMatchObject({ disableOnDestroy: false });

    const serviceNames = services.map((s) => s.name);
    const waiting = e.resources.filter((r) => r.type !== TYPES.projectService && r.type !== PROVIDER_TYPE);
    const early = waiting.filter((r) => serviceNames.some((name) => !waitsFor(e, r).has(name)));
    expect(early.map((r) => r.name)).toEqual([]);
  });

  test("creates each declared Firestore index on its own database, and the API waits for them", () => {
    const e = env(stack);
    const indexes = ofType(e, TYPES.firestoreIndex);
    expect(
      indexes.map((i) => ({
        database: i.inputs.database,
        collection: i.inputs.collection,
        scope: i.inputs.queryScope,
        fields: i.inputs.fields,
      })),
    ).toEqual(
      FIRESTORE_INDEXES.map((index) => ({
        database: e.names.databaseId,
        collection: index.collection,
        scope: "COLLECTION",
        fields: index.fields.map(({ field, order }) => ({ fieldPath: field, order })),
      })),
    );
    // The conversation list's, spelled out.
    expect(indexes.map((i) => i.inputs.fields)).toContainEqual([
      { fieldPath: "user_id", order: "ASCENDING" },
      { fieldPath: "created_at", order: "DESCENDING" },
      { fieldPath: "id", order: "DESCENDING" },
    ]);
    const api = one(e, TYPES.runService, (r) => r.inputs.name === e.names.deployables.services.api);
    for (const index of indexes) expect(api.dependencies).toContain(index.name);
  });

  test("builds each function as its own build account, into its own repository, after the build grants", () => {
    const e = env(stack);
    const d = e.names.deployables;
    const repository = one(e, TYPES.repository, () => true);
    const functions = ofType(e, TYPES.function);
    expect(functions).toHaveLength(Object.keys(d.functions).length);
    const builders = functions.map((fn) => {
      const build = obj(fn.inputs.buildConfig);
      expect(build.dockerRepository).toBe(repository.id);
      const key = (Object.keys(d.functions) as (keyof typeof d.functions)[]).find(
        (k) => d.functions[k] === fn.inputs.name,
      );
      const account = one(
        e,
        TYPES.account,
        (a) => a.inputs.accountId === d.buildServiceAccounts[key ?? "persistAudio"],
      );
      expect(build.serviceAccount).toBe(str(account, "name", "state"));
      const grants = e.resources.filter((r) => r.inputs.member === str(account, "member", "state"));
      expect(grants.map((g) => g.inputs.role).sort()).toEqual(
        ["roles/artifactregistry.writer", "roles/logging.logWriter", "roles/storage.objectViewer"].sort(),
      );
      for (const grant of grants) expect(fn.dependencies).toContain(grant.name);
      return build.serviceAccount;
    });
    expect(new Set(builders).size).toBe(functions.length);
    for (const builder of builders) expect(String(builder)).not.toMatch(/compute@developer/);
  });

  test("alerts on each worker subscription's oldest unacknowledged message, far below retention", () => {
    const e = env(stack);
    const backlog = ofType(e, POLICY).filter((p) =>
      JSON.stringify(p.inputs.conditions).includes(OLDEST_UNACKED_AGE_METRIC),
    );
    const workers = workersOf(PIPELINE);
    expect(backlog).toHaveLength(workers.length);
    for (const worker of workers) {
      const subscription = e.names.subscriptions[worker.subscription];
      const policy = backlog.find((p) => JSON.stringify(p.inputs.conditions).includes(`"${subscription}\\"`));
      expect(policy).toBeDefined();
      const conditions = (policy?.inputs.conditions ?? []) as Array<{ conditionThreshold: Record<string, unknown> }>;
      const threshold = Number(conditions[0]?.conditionThreshold.thresholdValue ?? Number.NaN);
      expect(threshold).toBe(backlogAgeThresholdSeconds(worker.delivery));
      expect(threshold).toBeLessThanOrEqual(worker.delivery.retentionSeconds / 24);
      // Past several full retry cycles: a message this old is failing, not waiting its turn.
      expect(threshold).toBeGreaterThanOrEqual(3 * (worker.delivery.retry?.deployed.maximumSeconds ?? 0));
      expect(threshold).toBeGreaterThanOrEqual(3 * worker.delivery.ackDeadlineSeconds);
      expect(policy?.inputs.notificationChannels).toHaveLength(1);
    }
  });

  test("protects topics and subscriptions in prod only", () => {
    const e = env(stack);
    const messaging = [...ofType(e, TYPES.topic), ...ofType(e, TYPES.subscription)];
    expect(messaging.length).toBeGreaterThan(0);
    for (const record of messaging)
      expect({ name: record.name, protect: record.protect }).toEqual({
        name: record.name,
        protect: stack === "prod",
      });
  });
});

describe("alert policies in two phases", () => {
  test("the first phase creates the metrics, the backlog alerts and no policy on a log-based metric", () => {
    expect(ofType(firstPhase, METRIC).length).toBeGreaterThan(0);
    const policies = ofType(firstPhase, POLICY);
    expect(policies).toHaveLength(workersOf(PIPELINE).length);
    for (const policy of policies)
      expect(JSON.stringify(policy.inputs.conditions)).toContain(OLDEST_UNACKED_AGE_METRIC);
  });

  test("the second phase (the default) adds every policy, each after its metric", () => {
    const e = env("prod");
    const logPolicies = ofType(e, POLICY).filter(
      (p) => !JSON.stringify(p.inputs.conditions).includes(OLDEST_UNACKED_AGE_METRIC),
    );
    expect(logPolicies).toHaveLength(ALERTS.length);
    const metrics = new Map(ofType(e, METRIC).map((m) => [str(m, "name"), m.name]));
    for (const policy of logPolicies) {
      const metric = /logging\.googleapis\.com\/user\/([A-Za-z0-9-]+)/.exec(
        JSON.stringify(policy.inputs.conditions),
      )?.[1];
      expect(policy.dependencies).toContain(metrics.get(metric ?? ""));
    }
  });

  test("infra/README.md's walkthrough turns them off for the first `pulumi up` and on after it", () => {
    const readme = fs.readFileSync(path.join(REPOSITORY_ROOT, "infra/README.md"), "utf8");
    const off = readme.indexOf(`pulumi config set ${CONFIG_KEYS.alertPolicies} false`);
    const firstUp = readme.indexOf("pulumi up", off);
    const on = readme.indexOf(`pulumi config set ${CONFIG_KEYS.alertPolicies} true`, firstUp);
    const secondUp = readme.indexOf("pulumi up", on);
    expect([off, firstUp, on, secondUp].every((i) => i >= 0)).toBe(true);
  });
});
