/**
 * A key rotation as the platform team runs it (infra/README.md): the stack holds the new
 * key as current and the old one as retiring. Each is its own Secret Manager version,
 * named by its key id, so the old key's version is the very resource that existed before
 * the rotation (not replaced, not re-created). The ingress and the API get both, each
 * pinned to its version, with their ids; the workers get neither.
 */
import { obj, ofType, splitByEnvironment, TYPES } from "./support/inventory";
import { buildEnvironments } from "./support/program";
import type { RecordedResource } from "./support/recording-mocks";

const NEW_KEY = "new-signing-key-".padEnd(48, "y");

let resources: RecordedResource[];

beforeAll(async () => {
  const mocks = await buildEnvironments([
    {
      stack: "staging",
      projectId: "tether-test-rotate",
      config: {
        "tether:tokenSigningKey": NEW_KEY,
        "tether:tokenKeyId": "k2",
        "tether:retiringTokenSigningKey": "test-signing-key-".padEnd(48, "x"),
        "tether:retiringTokenKeyId": "k1",
      },
    },
  ]);
  const env = splitByEnvironment(mocks.resources).get("staging");
  if (env === undefined) throw new Error("no staging environment was built");
  resources = [...ofType(env, TYPES.secretVersion), ...ofType(env, TYPES.runService), ...ofType(env, TYPES.function)];
});

const ofKind = (type: string) => resources.filter((r) => r.type === type);
/** The Secret Manager version number of the key with this id. */
const versionOf = (keyId: string): string =>
  String(ofKind(TYPES.secretVersion).find((v) => v.name === `staging-token-key-${keyId}`)?.state.version);

test("one secret version per key, named by its key id; the old key keeps its pre-rotation name", () => {
  const versions = ofKind(TYPES.secretVersion);
  expect(versions.map((v) => v.name).sort()).toEqual(["staging-token-key-k1", "staging-token-key-k2"]);
});

test("the ingress and the API read the current and the retiring key, pinned, with their ids", () => {
  const services = ofKind(TYPES.runService);
  expect(services).toHaveLength(2);
  for (const service of services) {
    const container = (obj(service.inputs.template).containers as Record<string, unknown>[])[0] ?? {};
    const envs = (container.envs as { name: string }[]).filter((e) => e.name.startsWith("TETHER_TOKEN_"));
    const ref = (version: string) => ({ secretKeyRef: { secret: "tether-staging-token-key", version } });
    expect(envs).toEqual([
      { name: "TETHER_TOKEN_SECRET", valueSource: ref(versionOf("k2")) },
      { name: "TETHER_TOKEN_KID", value: "k2" },
      { name: "TETHER_TOKEN_RETIRING_SECRET", valueSource: ref(versionOf("k1")) },
      { name: "TETHER_TOKEN_RETIRING_KID", value: "k1" },
    ]);
    expect(versionOf("k1")).not.toBe(versionOf("k2"));
  }
  for (const fn of ofKind(TYPES.function)) {
    expect(JSON.stringify(fn.inputs)).not.toContain("TETHER_TOKEN_");
  }
});
