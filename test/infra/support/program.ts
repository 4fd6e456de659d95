/**
 * Running the Pulumi program (or parts of it) under recording mocks.
 *
 * As in pulumi/examples' testing-unit-ts: set the mocks first, then load the program.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../../../infra/config";
import type { Pipeline } from "../../../shared/pipeline";
import { RecordingMocks } from "./recording-mocks";
import { REPOSITORY_ROOT, stackConfigValues } from "./stack-files";

export const TEST_REGION = "europe-west1";
export const TEST_IMAGE = `europe-west1-docker.pkg.dev/tether-images/tether/tether@sha256:${"a".repeat(64)}`;
export const TEST_SIGNING_KEY = "test-signing-key-".padEnd(48, "x");

/** A built function source directory, as `npm run build` leaves the repository. */
export function functionSourceFixture(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tether-function-source-"));
  fs.mkdirSync(path.join(dir, "dist/functions"), { recursive: true });
  fs.writeFileSync(path.join(dir, "dist/functions/index.js"), "exports.persistAudio = () => {};\n");
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "tether", main: "dist/functions/index.js" }));
  fs.writeFileSync(path.join(dir, "package-lock.json"), JSON.stringify({ name: "tether", lockfileVersion: 3 }));
  return dir;
}

/** The required keys a platform engineer sets with `pulumi config set`, for tests. */
export function requiredKeys(projectId: string): Record<string, string> {
  return {
    "gcp:project": projectId,
    "gcp:region": TEST_REGION,
    "tether:image": TEST_IMAGE,
    "tether:tokenSigningKey": TEST_SIGNING_KEY,
    "tether:alertChannel": `email:oncall-${projectId}@example.com`,
  };
}

/** A stack's validated config: its committed stack file plus the required keys. */
export async function stackConfig(
  stack: string,
  projectId: string,
  sourceDir: string,
  extra: Readonly<Record<string, string>> = {},
): Promise<StackConfig> {
  const { readStackConfig } = await import("../../../infra/config");
  const values: Record<string, string> = {
    ...stackConfigValues(stack),
    ...requiredKeys(projectId),
    "tether:functionSourceDir": sourceDir,
    ...extra,
  };
  return readStackConfig(stack, (key) => values[key], REPOSITORY_ROOT);
}

/**
 * Builds the given stacks' environments side by side in one mocked program and returns
 * the recording once every registration has completed. A stack may deploy a changed
 * pipeline declaration instead of shared/pipeline.ts's.
 */
export async function buildEnvironments(
  stacks: readonly {
    readonly stack: string;
    readonly projectId: string;
    readonly pipeline?: Pipeline;
    /** Stack config set on top of the stack file and the required keys. */
    readonly config?: Readonly<Record<string, string>>;
  }[],
): Promise<RecordingMocks> {
  const mocks = new RecordingMocks();
  await pulumi.runtime.setMocks(mocks, "tether", "test", false);
  mocks.recordOptions();
  const { environmentOptions, TetherEnvironment } = await import("../../../infra/environment-stack");
  const { packageFunctionSource } = await import("../../../infra/function-source");
  const sourceDir = functionSourceFixture();
  const source = packageFunctionSource(sourceDir);
  for (const { stack, projectId, pipeline, config: extra } of stacks) {
    const config = await stackConfig(stack, projectId, sourceDir, extra);
    new TetherEnvironment({ ...environmentOptions(config, source), ...(pipeline ? { pipeline } : {}) });
  }
  await pulumi.runtime.disconnect();
  return mocks;
}
