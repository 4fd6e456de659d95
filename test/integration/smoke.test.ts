/**
 * `npm run smoke` against the local stack with two environments, as the platform team runs
 * it after `pulumi up`: it passes, and it fails with a clear message when the "other"
 * environment accepts the resume token (here: the same environment named twice).
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { type RunningStack, startLocalStack } from "../../local/stack";
import { parseEnvironmentName } from "../../shared/environment";
import { createLogger } from "../../shared/logger";
import { onRunningEmulators, uniqueEnvironmentName } from "../support/test-environment";

const root = path.resolve(__dirname, "../..");

function npmSmoke(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      "npm",
      ["run", "--silent", "smoke", "--", ...args],
      { cwd: root, timeout: 240_000, env: { ...process.env, LOG_LEVEL: "warn" } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe("npm run smoke", () => {
  let stack: RunningStack;
  let stateFile: string;
  const staging = parseEnvironmentName(uniqueEnvironmentName("stg"));
  const prod = parseEnvironmentName(uniqueEnvironmentName("prd"));

  beforeAll(async () => {
    stack = await startLocalStack({
      environments: [staging, prod],
      ...onRunningEmulators(),
      chunkSeconds: 2,
      logger: createLogger({ level: "silent" }),
    });
    stateFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "tether-smoke-")), "state.json");
    fs.writeFileSync(stateFile, JSON.stringify(stack.state), { mode: 0o600 });
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  });

  it("passes against a healthy environment, with a table of timed steps", async () => {
    const result = await npmSmoke(["--state-file", stateFile, "--env", staging, "--other-env", prod]);
    expect(result.stderr).not.toMatch(/FAILED/);
    expect(result.code).toBe(0);
    const rows = result.stdout.split("\n").filter((line) => /^(PASS|FAIL|SKIP) {2}/.test(line));
    expect(rows.map((row) => row.slice(0, 4))).toEqual(Array(10).fill("PASS"));
    expect(result.stdout).toMatch(
      new RegExp(
        `PASS +${prod} refuses the resume token \\(4409\\) +[0-9.]+ s +refused with 4409, pinned to ${staging}`,
      ),
    );
    expect(result.stdout).toMatch(/PASS +playback byte-exact +[0-9.]+ s +\d+ bytes of WAV, PCM identical/);
    expect(result.stdout).toMatch(/PASS +extraction done .*smoke-person-a extracted, smoke-person-b extracted/);
    expect(result.stdout).toMatch(/PASS +delete +[0-9.]+ s +202 deleting, then 404/);
    expect(result.stdout).toMatch(/PASS +deleted: profiles no longer use it, resume refused .*refused with 4410/);
    expect(result.stdout).toMatch(/\nPASS in [0-9.]+ s\n/);
  }, 240_000);

  it("fails, saying why, when the other environment accepts the resume token", async () => {
    const result = await npmSmoke(["--state-file", stateFile, "--env", staging, "--other-env", staging]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(new RegExp(`FAIL +${staging} refuses the resume token \\(4409\\)`));
    expect(result.stderr).toContain(
      `smoke: FAILED: ${staging} refuses the resume token (4409): ${staging} ACCEPTED a resume token of ${staging}`,
    );
    expect(result.stderr).toContain("the environments are not isolated");
    expect(result.stdout).toMatch(/\nFAIL in [0-9.]+ s\n/);
    expect(result.stderr).not.toMatch(/\n\s+at /); // a sentence, not a stack trace
  }, 240_000);

  it("refuses to run without saying where the environments are", async () => {
    const result = await npmSmoke(["--env", staging, "--other-env", prod]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("smoke: say where --env is: --state-file PATH, or --ingress-url and --api-url");
  }, 60_000);
});
