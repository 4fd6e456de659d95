/**
 * A short `npm run chaos` as part of the suite: concurrent conversations through the SDK
 * into two environments, with sockets dropped mid-chunk, connections cut by a TCP fault
 * proxy, ingress instance processes SIGKILLed and replaced, the workers' and the ingress's
 * connections to the emulators cut, and every worker delivery slowed, failed or duplicated
 * at random. The command checks every invariant against storage and the API and exits
 * non-zero on a violation; its seed is printed, so a failure here can be replayed with
 * `npm run chaos -- --seed N`. The faults must actually have happened: the table counts them.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { runningEmulatorEndpoints, uniqueEnvironmentName } from "../support/test-environment";

const ROOT = path.resolve(__dirname, "../..");
/** The run takes about 40 s of streaming plus the checks; past this it is stopped and reported. */
const RUN_LIMIT_MS = 270_000;

/** The number in the table's row `label` (a regular expression), e.g. `ingress instances killed  3`. */
function counted(output: string, label: string): number {
  const match = new RegExp(`^${label}\\s+([\\d,]+)`, "m").exec(output);
  if (!match?.[1]) throw new Error(`the table has no row ${label}:\n${output.slice(-3000)}`);
  return Number(match[1].replaceAll(",", ""));
}

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
      ...["--ingress-instances", "2", "--kill-every", "5", "--emulator-cut-every", "2", "--ingress-cut-every", "2"],
      ...["--max-socket-seconds", "8"],
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
  // A run that hangs must still say which seed hung and how far it got, before jest's own
  // timeout would drop the output: it is stopped here first.
  let timedOut = false;
  const limit = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, RUN_LIMIT_MS);
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  clearTimeout(limit);
  fs.rmSync(dir, { recursive: true, force: true });
  if (timedOut)
    throw new Error(
      `npm run chaos -- --seed ${seed} did not finish in ${RUN_LIMIT_MS / 1000} s:\n${output.slice(-4000)}`,
    );
  if (code !== 0) throw new Error(`npm run chaos -- --seed ${seed} exited ${code}:\n${output.slice(-4000)}`);
  expect(output).toContain(`chaos: seed ${seed}`);
  expect(output).toMatch(/bytes lost\s+0\n/);
  expect(output).toContain("no violations");
  // The run says how often each fault struck; none of them may have been left out.
  expect(counted(output, "ingress instances killed")).toBeGreaterThan(0);
  expect(counted(output, "ingress instances drained \\(SIGTERM\\)")).toBeGreaterThan(0);
  expect(counted(output, "handovers after goaway")).toBeGreaterThan(0);
  expect(counted(output, "connections cut \\(workers-emulators\\)")).toBeGreaterThan(0);
  expect(counted(output, "connections cut \\(ingress-Pub/Sub\\)")).toBeGreaterThan(0);
  expect(counted(output, "connections cut \\(ingress-Firestore\\)")).toBeGreaterThan(0);
}, 300_000);
