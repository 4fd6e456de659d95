/**
 * Stack configuration: the committed stack files, and the validation every stack passes
 * through before a single resource is declared.
 */
import fs from "node:fs";
import path from "node:path";
import { CONFIG_KEYS, readStackConfig, StackConfigError } from "../../infra/config";
import { requiredKeys, TEST_SIGNING_KEY } from "./support/program";
import { REPOSITORY_ROOT, readYamlFile, STACKS, stackConfigValues } from "./support/stack-files";

const read = (values: Record<string, string>) => (key: string) => values[key];

function errorOf(run: () => unknown): StackConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof StackConfigError) return error;
    throw error;
  }
  throw new Error("expected a StackConfigError");
}

describe("Pulumi.yaml", () => {
  const project = readYamlFile("Pulumi.yaml");

  test("is a Node.js TypeScript project named tether, whose config namespace is tether:", () => {
    expect(project.name).toBe("tether");
    expect(project.runtime).toEqual({ name: "nodejs", options: { typescript: true } });
  });

  test("points at the program in infra/, which exists", () => {
    expect(project.main).toBe("infra/index.ts");
    expect(fs.existsSync(path.join(REPOSITORY_ROOT, String(project.main)))).toBe(true);
  });
});

describe.each(STACKS)("Pulumi.%s.yaml", (stack) => {
  const values = stackConfigValues(stack);

  test("does not choose a project, region, image or key: nothing deploys until the platform team sets them", () => {
    for (const key of [CONFIG_KEYS.project, CONFIG_KEYS.region, CONFIG_KEYS.image, CONFIG_KEYS.tokenSigningKey]) {
      expect(values[key]).toBeUndefined();
    }
  });

  test("disables the default gcp provider", () => {
    expect(JSON.parse(values["pulumi:disable-default-providers"] ?? "[]")).toContain("gcp");
  });

  test("only uses keys the program reads", () => {
    const known = new Set<string>([...Object.values(CONFIG_KEYS), "pulumi:disable-default-providers"]);
    expect(Object.keys(values).filter((key) => !known.has(key))).toEqual([]);
  });

  test("is valid once the required keys are set, and names the environment after the stack", () => {
    const config = readStackConfig(
      stack,
      read({ ...values, ...requiredKeys(`tether-test-${stack}`) }),
      REPOSITORY_ROOT,
    );
    expect(config.environment).toBe(stack);
    expect(config.projectId).toBe(`tether-test-${stack}`);
  });

  test("without the required keys it fails, naming each key and how to set it", () => {
    const error = errorOf(() => readStackConfig(stack, read(values), REPOSITORY_ROOT));
    expect(error.message).toContain("gcp:project is not set: run `pulumi config set gcp:project <project-id>`");
    expect(error.message).toContain("gcp:region is not set");
    expect(error.message).toContain("tether:image is not set");
    expect(error.message).toContain("tether:tokenSigningKey is not set: run `pulumi config set --secret");
  });
});

describe("prod keeps its data", () => {
  test("prod is protected, dev and staging can be torn down", () => {
    const protect = (stack: string) =>
      readStackConfig(stack, read({ ...stackConfigValues(stack), ...requiredKeys("tether-test-x1") }), REPOSITORY_ROOT)
        .protect;
    expect(protect("prod")).toBe(true);
    expect(protect("dev")).toBe(false);
    expect(protect("staging")).toBe(false);
  });
});

describe("readStackConfig", () => {
  const valid = requiredKeys("tether-test-dev");

  test("a stack name that is not an environment name is refused", () => {
    expect(errorOf(() => readStackConfig("Prod_EU", read(valid), REPOSITORY_ROOT)).message).toMatch(
      /Stack "Prod_EU" cannot be deployed: the stack name is the environment name\. Invalid environment name/,
    );
  });

  test("a malformed project id names the key and the value", () => {
    const message = errorOf(() =>
      readStackConfig("dev", read({ ...valid, "gcp:project": "My Project" }), REPOSITORY_ROOT),
    ).message;
    expect(message).toContain("gcp:project must be a GCP project id");
    expect(message).toContain('(got "My Project")');
  });

  test("a short signing key names the key but never prints the value", () => {
    const message = errorOf(() =>
      readStackConfig("dev", read({ ...valid, "tether:tokenSigningKey": "hunter2-short" }), REPOSITORY_ROOT),
    ).message;
    expect(message).toContain("tether:tokenSigningKey must be at least 32 characters");
    expect(message).not.toContain("hunter2");
  });

  test("a rotation: the retiring key needs its own id, and its value is never printed", () => {
    const retiring = { "tether:retiringTokenSigningKey": "old-secret-".padEnd(40, "o") };
    expect(readStackConfig("dev", read(valid), REPOSITORY_ROOT)).toMatchObject({
      tokenKeyId: "k1",
      retiringTokenKey: undefined,
    });
    const rotating = { ...valid, ...retiring, "tether:tokenKeyId": "k2", "tether:retiringTokenKeyId": "k1" };
    expect(readStackConfig("dev", read(rotating), REPOSITORY_ROOT)).toMatchObject({
      tokenKeyId: "k2",
      retiringTokenKey: { keyId: "k1", key: "old-secret-".padEnd(40, "o") },
    });
    const noId = errorOf(() => readStackConfig("dev", read({ ...valid, ...retiring }), REPOSITORY_ROOT)).message;
    expect(noId).toContain("tether:retiringTokenKeyId is not set: run `pulumi config set tether:retiringTokenKeyId");
    const sameId = errorOf(() =>
      readStackConfig("dev", read({ ...valid, ...retiring, "tether:retiringTokenKeyId": "k1" }), REPOSITORY_ROOT),
    ).message;
    expect(sameId).toContain("tether:retiringTokenKeyId must differ from tether:tokenKeyId");
    const short = errorOf(() =>
      readStackConfig("dev", read({ ...rotating, "tether:retiringTokenSigningKey": "old-short" }), REPOSITORY_ROOT),
    ).message;
    expect(short).not.toContain("old-short");
  });

  test("an image without a registry, tag or digest is refused", () => {
    expect(
      errorOf(() => readStackConfig("dev", read({ ...valid, "tether:image": "tether" }), REPOSITORY_ROOT)).message,
    ).toContain("tether:image must be a container image reference");
  });

  test("coldline must come before deletion by retention", () => {
    const message = errorOf(() =>
      readStackConfig(
        "dev",
        read({ ...valid, "tether:audioColdlineAfterDays": "90", "tether:retentionDays": "30" }),
        REPOSITORY_ROOT,
      ),
    ).message;
    expect(message).toContain("tether:audioColdlineAfterDays must be fewer days than tether:retentionDays (30)");
  });

  test("the notifications subscriber must be a service account", () => {
    const message = errorOf(() =>
      readStackConfig(
        "dev",
        read({ ...valid, "tether:notificationsSubscriber": "someone@example.com" }),
        REPOSITORY_ROOT,
      ),
    ).message;
    expect(message).toContain("tether:notificationsSubscriber must be a service account email");
    const config = readStackConfig(
      "dev",
      read({ ...valid, "tether:notificationsSubscriber": "app-backend@app-project.iam.gserviceaccount.com" }),
      REPOSITORY_ROOT,
    );
    expect(config.notificationsSubscriber).toBe("app-backend@app-project.iam.gserviceaccount.com");
  });

  test("settings passed to the deployables are validated by the code's own schema", () => {
    const message = errorOf(() =>
      readStackConfig(
        "dev",
        read({ ...valid, "tether:logLevel": "loud", "tether:chunkSeconds": "-1" }),
        REPOSITORY_ROOT,
      ),
    ).message;
    expect(message).toMatch(/tether:logLevel .*\(it becomes LOG_LEVEL\)/);
    expect(message).toMatch(/tether:chunkSeconds .*\(it becomes TETHER_CHUNK_SECONDS\)/);
  });

  test("defaults: protected, source at the repository root, Firestore in the region, code defaults for tuning", () => {
    const config = readStackConfig("dev", read(valid), REPOSITORY_ROOT);
    expect(config).toMatchObject({
      protect: true,
      functionSourceDir: REPOSITORY_ROOT,
      firestoreLocation: "europe-west1",
      tokenSigningKey: TEST_SIGNING_KEY,
      audioLifecycle: { coldlineAfterDays: undefined },
      retentionDays: undefined,
      notificationsSubscriber: undefined,
      ingressScaling: { minInstances: 0, maxInstances: 10 },
      tuning: {},
    });
  });

  test("tuning keys become the deployables' variables", () => {
    const config = readStackConfig(
      "dev",
      read({ ...valid, "tether:idleTimeoutSeconds": "300", "tether:embeddingUrl": "https://embed.example.com/v1" }),
      REPOSITORY_ROOT,
    );
    expect(config.tuning).toEqual({
      TETHER_IDLE_TIMEOUT_SECONDS: "300",
      TETHER_EMBEDDING_URL: "https://embed.example.com/v1",
    });
  });

  test("the per-user limits (4429) are set per stack, and validated by the code's schema", () => {
    const limits = {
      "tether:maxLiveSocketsPerUser": "5",
      "tether:maxConversationsPerMinute": "12",
      "tether:maxConversationSeconds": "7200",
      "tether:maxSegmentsPerConversation": "5000",
    };
    expect(readStackConfig("dev", read({ ...valid, ...limits }), REPOSITORY_ROOT).tuning).toEqual({
      TETHER_MAX_LIVE_SOCKETS_PER_USER: "5",
      TETHER_MAX_CONVERSATIONS_PER_MINUTE: "12",
      TETHER_MAX_CONVERSATION_SECONDS: "7200",
      TETHER_MAX_SEGMENTS_PER_CONVERSATION: "5000",
    });
    const message = errorOf(() =>
      readStackConfig("dev", read({ ...valid, "tether:maxLiveSocketsPerUser": "0" }), REPOSITORY_ROOT),
    ).message;
    expect(message).toMatch(/tether:maxLiveSocketsPerUser .*\(it becomes TETHER_MAX_LIVE_SOCKETS_PER_USER\)/);
  });
});
