/**
 * dev and prod side by side in one program: no bucket, topic, subscription, account or
 * grant of one refers to the other, and no name collides. Once with a project per
 * environment, once with both in one project, where only names keep them apart.
 */
import {
  accountMembers,
  collisions,
  type EnvironmentRecording,
  foreignMarkers,
  grants,
  isolationViolations,
  physicalIdentity,
  pubsubAgentMember,
  splitByEnvironment,
  TYPES,
} from "./support/inventory";
import { buildEnvironments } from "./support/program";
import type { RecordedResource, RecordingMocks } from "./support/recording-mocks";

describe.each([
  ["a project each", "tether-test-dev", "tether-test-prod"],
  ["one shared project", "tether-test-shared", "tether-test-shared"],
])("dev and prod in %s", (_label, devProject, prodProject) => {
  let mocks: RecordingMocks;
  let dev: EnvironmentRecording;
  let prod: EnvironmentRecording;

  beforeAll(async () => {
    mocks = await buildEnvironments([
      { stack: "dev", projectId: devProject },
      { stack: "prod", projectId: prodProject },
    ]);
    const environments = splitByEnvironment(mocks.resources);
    const found = [environments.get("dev"), environments.get("prod")];
    if (found[0] === undefined || found[1] === undefined) throw new Error("dev and prod were not both built");
    [dev, prod] = found as [EnvironmentRecording, EnvironmentRecording];
  });

  test("both environments were built in full", () => {
    expect(dev.resources.length).toBeGreaterThan(40);
    // Retention is a per-stack setting: dev's stack file sets it (one scheduler job), prod's does not.
    const unscheduled = (r: { type: string }) => r.type !== TYPES.schedulerJob;
    expect(prod.resources.filter(unscheduled).length).toBe(dev.resources.filter(unscheduled).length);
  });

  test("no physical name and no Pulumi logical name is used twice", () => {
    expect(collisions(mocks.resources)).toEqual([]);
  });

  test("the two environments share no named resource", () => {
    const named = (e: EnvironmentRecording) =>
      new Set(e.resources.map(physicalIdentity).filter((id): id is string => id !== undefined));
    const devNames = named(dev);
    expect([...named(prod)].filter((name) => devNames.has(name))).toEqual([]);
  });

  test("no grant of one environment names an account of the other", () => {
    const prodAccounts = accountMembers(prod);
    const devAccounts = accountMembers(dev);
    expect(
      grants(dev)
        .filter((g) => prodAccounts.has(g.member))
        .map((g) => g.record.name),
    ).toEqual([]);
    expect(
      grants(prod)
        .filter((g) => devAccounts.has(g.member))
        .map((g) => g.record.name),
    ).toEqual([]);
  });

  test("no input of one environment mentions a resource or account of the other", () => {
    expect(foreignMarkers(prod, dev).length).toBeGreaterThan(15);
    expect(isolationViolations(dev, [prod])).toEqual([]);
    expect(isolationViolations(prod, [dev])).toEqual([]);
  });
});

/**
 * The rules above must be able to fail: each deliberate breach of a correct recording is
 * reported.
 */
describe("the isolation check catches", () => {
  let dev: EnvironmentRecording;
  let prod: EnvironmentRecording;

  beforeAll(async () => {
    const mocks = await buildEnvironments([
      { stack: "dev", projectId: "tether-test-shared" },
      { stack: "prod", projectId: "tether-test-shared" },
    ]);
    const environments = splitByEnvironment(mocks.resources);
    [dev, prod] = [environments.get("dev"), environments.get("prod")] as [EnvironmentRecording, EnvironmentRecording];
  });

  const withChanged = (
    recording: EnvironmentRecording,
    pick: (r: RecordedResource) => boolean,
    change: (inputs: Record<string, unknown>) => Record<string, unknown>,
  ): EnvironmentRecording => {
    let changed = 0;
    const resources = recording.resources.map((r) => {
      if (!pick(r) || changed > 0) return r;
      changed += 1;
      return { ...r, inputs: change({ ...r.inputs }) };
    });
    if (changed === 0) throw new Error("nothing to change");
    return { ...recording, resources };
  };
  const topicGrant = (r: RecordedResource) => r.name === "dev-ingress-publishes-audio";
  const prodIngress = () => `serviceAccount:prod-ingress@tether-test-shared.iam.gserviceaccount.com`;

  test("a grant to the other environment's account", () => {
    const broken = withChanged(dev, topicGrant, (inputs) => ({ ...inputs, member: prodIngress() }));
    expect(isolationViolations(broken, [prod]).join("\n")).toMatch(/is not an account of dev/);
  });

  test("a grant on the other environment's topic", () => {
    const broken = withChanged(dev, topicGrant, (inputs) => ({ ...inputs, topic: "tether-prod-audio" }));
    const report = isolationViolations(broken, [prod]).join("\n");
    expect(report).toMatch(/the target is not a resource of dev/);
    expect(report).toMatch(/refers to prod's tether-prod-audio/);
  });

  test("a grant to the public", () => {
    const broken = withChanged(dev, topicGrant, (inputs) => ({ ...inputs, member: "allUsers" }));
    expect(isolationViolations(broken, [prod]).join("\n")).toMatch(/a public or personal member/);
  });

  test("a project-wide grant without the database condition", () => {
    const broken = withChanged(
      dev,
      (r) => r.name === "dev-ingress-database-readWrite",
      (inputs) => ({ ...inputs, condition: undefined }),
    );
    expect(isolationViolations(broken, [prod]).join("\n")).toMatch(/a project-wide grant/);
  });

  test("a Firestore grant conditioned on the other environment's database", () => {
    const broken = withChanged(
      dev,
      (r) => r.name === "dev-ingress-database-readWrite",
      (inputs) => ({
        ...inputs,
        condition: { title: "x", expression: 'resource.name == "projects/tether-test-shared/databases/tether-prod"' },
      }),
    );
    expect(isolationViolations(broken, [prod]).join("\n")).toMatch(/a project-wide grant/);
  });

  test("the Pub/Sub agent granted more than dead-lettering needs", () => {
    // The agent publishing to the audio topic: dead-lettering never needs that.
    const broken = withChanged(dev, topicGrant, (inputs) => ({ ...inputs, member: pubsubAgentMember(dev) }));
    expect(isolationViolations(broken, [prod]).join("\n")).toMatch(/is not an account of dev/);
  });

  test("a function pointed at the other environment's bucket", () => {
    const broken = withChanged(
      dev,
      (r) => r.name === "dev-function-persistAudio",
      (inputs) => {
        const serviceConfig = inputs.serviceConfig as Record<string, unknown>;
        const environmentVariables = serviceConfig.environmentVariables as Record<string, unknown>;
        return {
          ...inputs,
          serviceConfig: {
            ...serviceConfig,
            environmentVariables: { ...environmentVariables, TETHER_BUCKET: "tether-test-shared-prod-audio" },
          },
        };
      },
    );
    expect(isolationViolations(broken, [prod]).join("\n")).toMatch(/refers to prod's tether-test-shared-prod-audio/);
  });

  test("a name used twice", () => {
    const resources = [...dev.resources, ...dev.resources.filter((r) => r.name === "dev-topic-audio")];
    expect(collisions(resources)).toEqual([
      "logical gcp:pubsub/topic:Topic::dev-topic-audio (2 times)",
      "topic tether-test-shared/tether-dev-audio (2 times)",
    ]);
  });
});
