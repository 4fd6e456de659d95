/**
 * A short `npm run chaos` as part of the suite: concurrent conversations through the SDK
 * into two environments, with sockets dropped mid-chunk, connections cut by a TCP fault
 * proxy, and every worker delivery slowed, failed or duplicated at random. The command
 * checks every invariant against storage and the API and exits non-zero on a violation;
 * its seed is printed, so a failure here can be replayed with `npm run chaos -- --seed N`.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { runningEmulatorEndpoints, uniqueEnvironmentName } from "../support/test-environment";

const ROOT = path.resolve(__dirname, "../..");

test("a short chaos run loses nothing and breaks no invariant", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tether-chaos-"));
  const stateFile = path.join(dir, "state.json");
  fs.writeFileSync(stateFile, JSON.stringify({ envs: {}, emulators: runningEmulatorEndpoints() }));
  const envs = [uniqueEnvironmentName("cha"), uniqueEnvironmentName("chb")].join(",");
  const seed = String(Math.floor(Math.random() * 2 ** 31));
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "scripts/chaos.ts",
      ...["--minutes", "0.5", "--conversations", "4", "--seed", seed, "--envs", envs, "--state-file", stateFile],
    ],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout.on("data", (d: Buffer) => {
    output += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    output += d.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  fs.rmSync(dir, { recursive: true, force: true });
  if (code !== 0) throw new Error(`npm run chaos -- --seed ${seed} exited ${code}:\n${output.slice(-4000)}`);
  expect(output).toContain(`chaos: seed ${seed}`);
  expect(output).toMatch(/bytes lost\s+0\n/);
  expect(output).toContain("no violations");
}, 300_000);
