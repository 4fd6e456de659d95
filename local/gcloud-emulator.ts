/**
 * The Pub/Sub and Firestore emulators, started through gcloud.
 *
 * gcloud is a Python wrapper around a Java process, so each emulator runs in its own
 * process group and is stopped as a group; an `exit` hook kills the groups even when the
 * parent dies on an error, so no Java process outlives the stack.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export type GcloudEmulatorKind = "pubsub" | "firestore";

export class EmulatorUnavailableError extends Error {
  override name = "EmulatorUnavailableError";
}

const INSTALL_HINT =
  "install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install), then run " +
  "`gcloud components install beta pubsub-emulator cloud-firestore-emulator` " +
  "(on Debian/Ubuntu: `apt-get install google-cloud-cli-pubsub-emulator google-cloud-cli-firestore-emulator`)";

const COMPONENT_DIR: Record<GcloudEmulatorKind, string> = {
  pubsub: "pubsub-emulator",
  firestore: "cloud-firestore-emulator",
};

/**
 * JVM flags for the emulators' Java processes (set through JAVA_TOOL_OPTIONS, which every
 * JVM reads; flags the caller already set there come after ours and win).
 *
 * On a 2-core machine the JVM's defaults (the C2 compiler's background threads, G1's
 * concurrent threads) compete with the stack for the cores, and a fresh emulator takes tens
 * of seconds of load to warm up; their latency, not their peak throughput, is what the
 * stack feels. A large initial metaspace spares the Firestore emulator the full collections
 * its class loading otherwise triggers under load; transparent huge pages make the heap's
 * first touch cheap where page faults are slow. Measurements: bench/NOTES.md.
 */
export const EMULATOR_JVM_FLAGS = [
  "-XX:TieredStopAtLevel=1",
  "-XX:+UseSerialGC",
  "-XX:MetaspaceSize=256m",
  "-XX:+UseTransparentHugePages",
] as const;

/**
 * Heap flags for the Pub/Sub emulator's own JVM only (its launcher reads them from
 * CLOUD_PUBSUB_EMULATOR_OPTS; gcloud's short-lived Java version check does not).
 *
 * The emulator (0.8.20) never frees a message (an ack only records the id), whether a
 * subscription is pulled or pushed, so under audio load its heap only grows and each young
 * collection copies the newest messages into old-generation memory touched for the first
 * time, inside the pause. So the heap starts at 1 GB, pre-touched; messages go straight to
 * the old generation; a small young generation keeps each pause short. Measurements:
 * bench/NOTES.md.
 */
export const PUBSUB_EMULATOR_JVM_FLAGS = [
  "-Xms1g",
  "-XX:+AlwaysPreTouch",
  "-Xmn96m",
  "-XX:MaxTenuringThreshold=0",
] as const;

/**
 * Heap flags for the Firestore emulator's JVM (through JAVA_TOOL_OPTIONS: its launcher reads
 * no variable of its own). Every ack waits for a Firestore write, so the emulator's young
 * collections pause the ingress's acks; a pre-touched heap with a fixed young generation
 * keeps them from faulting in fresh memory inside the pause. Measurements: bench/NOTES.md.
 */
export const FIRESTORE_EMULATOR_JVM_FLAGS = ["-Xms512m", "-Xmn128m", "-XX:+AlwaysPreTouch"] as const;

function withInherited(flags: readonly string[], inherited: string | undefined): string {
  return [...flags, inherited ?? ""].join(" ").trim();
}

/** Throws one actionable sentence when gcloud or an emulator component is missing. */
export function assertGcloudEmulatorsInstalled(
  kinds: readonly GcloudEmulatorKind[],
  env: NodeJS.ProcessEnv = process.env,
): void {
  const which = spawnSync("/bin/sh", ["-c", "command -v gcloud"], { encoding: "utf8", env });
  const gcloud = which.stdout.trim();
  if (which.status !== 0 || gcloud === "") {
    throw new EmulatorUnavailableError(`gcloud was not found on PATH: to run the local emulators, ${INSTALL_HINT}.`);
  }
  const sdkRoot = path.resolve(path.dirname(fs.realpathSync(gcloud)), "..");
  const missing = kinds.filter((kind) => {
    const candidates = [
      path.join(sdkRoot, "platform", COMPONENT_DIR[kind]),
      path.join(sdkRoot, "lib", "google-cloud-sdk", "platform", COMPONENT_DIR[kind]),
    ];
    return !candidates.some((dir) => fs.existsSync(dir));
  });
  if (missing.length > 0) {
    throw new EmulatorUnavailableError(
      `The gcloud ${missing.map((k) => COMPONENT_DIR[k]).join(" and ")} component is not installed: ${INSTALL_HINT}.`,
    );
  }
}

export interface RunningGcloudEmulator {
  readonly kind: GcloudEmulatorKind;
  /** host:port, the form PUBSUB_EMULATOR_HOST and FIRESTORE_EMULATOR_HOST take. */
  readonly hostPort: string;
  readonly logFile: string;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is already gone.
  }
}

/** Kills every emulator this process started, at once (for exit and signal paths). */
export function killAllGcloudEmulatorsNow(): void {
  for (const child of live) killGroup(child, "SIGKILL");
}

/**
 * For hosts that have no shutdown of their own (jest's global setup, whose teardown does
 * not run when jest is interrupted): on SIGINT/SIGTERM, kill the emulators and exit.
 */
export function killEmulatorsOnInterrupt(): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      killAllGcloudEmulatorsNow();
      process.exit(130);
    });
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", killAllGcloudEmulatorsNow);
}

async function probe(hostPort: string): Promise<boolean> {
  try {
    const response = await fetch(`http://${hostPort}/`, { signal: AbortSignal.timeout(1000) });
    return response.ok;
  } catch {
    return false;
  }
}

export async function startGcloudEmulator(
  kind: GcloudEmulatorKind,
  host: string,
  port: number,
  options: { timeoutMs?: number } = {},
): Promise<RunningGcloudEmulator> {
  const hostPort = `${host}:${port}`;
  const args =
    kind === "pubsub"
      ? ["beta", "emulators", "pubsub", "start", `--host-port=${hostPort}`, "--project=tether-local"]
      : ["emulators", "firestore", "start", `--host-port=${hostPort}`];
  const logFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), `tether-${kind}-`)), "emulator.log");
  const log = fs.openSync(logFile, "a");
  installExitHook();
  const child = spawn("gcloud", args, {
    detached: true,
    stdio: ["ignore", log, log],
    env: {
      ...process.env,
      CLOUDSDK_CORE_DISABLE_PROMPTS: "1",
      JAVA_TOOL_OPTIONS: withInherited(
        kind === "firestore" ? [...EMULATOR_JVM_FLAGS, ...FIRESTORE_EMULATOR_JVM_FLAGS] : EMULATOR_JVM_FLAGS,
        process.env.JAVA_TOOL_OPTIONS,
      ),
      ...(kind === "pubsub"
        ? {
            CLOUD_PUBSUB_EMULATOR_OPTS: withInherited(
              PUBSUB_EMULATOR_JVM_FLAGS,
              process.env.CLOUD_PUBSUB_EMULATOR_OPTS,
            ),
          }
        : {}),
    },
  });
  fs.closeSync(log);
  live.add(child);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.once("exit", () => live.delete(child));

  const stop = async (): Promise<void> => {
    killGroup(child, "SIGTERM");
    const timer = setTimeout(() => killGroup(child, "SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
    // The Java grandchild may outlive the wrapper for a moment; make sure the group is gone.
    killGroup(child, "SIGKILL");
  };

  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    if (await probe(hostPort)) return { kind, hostPort, logFile, stop };
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await stop();
  const tail = fs.readFileSync(logFile, "utf8").split("\n").slice(-15).join("\n");
  throw new EmulatorUnavailableError(
    `The ${kind} emulator did not become ready on ${hostPort}. Its log (${logFile}) ends:\n${tail}`,
  );
}
