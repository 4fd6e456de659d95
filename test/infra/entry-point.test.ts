/**
 * The Pulumi program as `pulumi up` runs it: stack name and stack config in, one
 * environment out. Mocks and config are set first, then the program is loaded.
 */
import * as pulumi from "@pulumi/pulumi";
import { obj, splitByEnvironment, TYPES } from "./support/inventory";
import { functionSourceFixture, requiredKeys } from "./support/program";
import { RecordingMocks } from "./support/recording-mocks";
import { stackConfigValues } from "./support/stack-files";

const PROJECT = "tether-test-staging";

type Program = typeof import("../../infra/index");

let mocks: RecordingMocks;
let program: Program;

const resolved = <T>(output: pulumi.Output<T>) => new Promise<T>((resolve) => output.apply(resolve));

beforeAll(async () => {
  mocks = new RecordingMocks();
  await pulumi.runtime.setMocks(mocks, "tether", "staging", false);
  pulumi.runtime.setAllConfig(
    {
      ...stackConfigValues("staging"),
      ...requiredKeys(PROJECT),
      "tether:functionSourceDir": functionSourceFixture(),
    },
    ["tether:tokenSigningKey"],
  );
  program = await import("../../infra/index");
  await pulumi.runtime.disconnect();
});

test("the stack name is the environment", () => {
  expect(program.environmentName).toBe("staging");
  expect(program.projectId).toBe(PROJECT);
  expect([...splitByEnvironment(mocks.resources).keys()]).toEqual(["staging"]);
});

test("its outputs name the staging resources of the configured project", async () => {
  expect(await resolved(program.bucket)).toBe(`${PROJECT}-staging-audio`);
  expect(await resolved(program.database)).toBe("tether-staging");
  expect(await resolved(program.topics)).toEqual({
    audio: "tether-staging-audio",
    events: "tether-staging-events",
    extraction: "tether-staging-extraction",
    deadLetter: "tether-staging-dead-letter",
    deletion: "tether-staging-deletion",
    notifications: "tether-staging-notifications",
  });
  expect(await resolved(program.deadLetterSubscription)).toBe("tether-staging-dead-letter-store");
  expect(await resolved(program.ingressUrl)).toMatch(
    /^wss:\/\/tether-staging-ingress-[a-z0-9]+-ew\.a\.run\.app\/v1\/listen$/,
  );
  expect(await resolved(program.apiUrl)).toMatch(/^https:\/\/tether-staging-api-/);
});

test("the provider takes the project and region from the stack config, nothing else", () => {
  const provider = mocks.resources.filter((r) => r.type === "pulumi:providers:gcp");
  expect(provider).toHaveLength(1);
  expect(provider[0]?.inputs).toMatchObject({ project: PROJECT, region: "europe-west1" });
  expect(
    mocks.resources.filter((r) => r.custom && r.type !== "pulumi:providers:gcp" && r.provider === undefined),
  ).toEqual([]);
});

test("the signing key from the secret config is stored as a secret", () => {
  const version = mocks.resources.find((r) => r.type === TYPES.secretVersion);
  const data = obj(version?.inputs.secretData);
  expect(data.value).toBe(requiredKeys(PROJECT)["tether:tokenSigningKey"]);
  expect(Object.keys(data)).toHaveLength(2); // the secret signature and the value
});
