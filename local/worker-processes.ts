/**
 * A local worker in a process of its own (local/worker-child.ts), as `npm start` runs
 * each: spawned with the environment's settings, ready once it reports the port it serves.
 */
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import type { WorkerBinding } from "../functions/workers";
import type { Logger } from "../shared/logger";
import type { ServedWorker } from "./worker-server";

const CHILD_ENTRY = path.resolve(__dirname, "worker-child.ts");
const READY_TIMEOUT_MS = 30_000;
/** A worker that ignores SIGTERM this long is killed. */
const STOP_GRACE_MS = 10_000;

function portMessage(message: unknown): number | undefined {
  if (typeof message !== "object" || message === null || !("port" in message)) return undefined;
  const { port } = message as { port: unknown };
  return typeof port === "number" && Number.isInteger(port) && port > 0 ? port : undefined;
}

export async function spawnWorkerProcess(options: {
  readonly binding: WorkerBinding;
  /** The push path it serves (shared/pipeline.ts `pushPath`). */
  readonly path: string;
  readonly host: string;
  /** Its settings: the variables functions/runtime.ts reads, emulator hosts, LOG_LEVEL. */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly logger: Logger;
}): Promise<ServedWorker> {
  const { binding, host, logger } = options;
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries({
    ...process.env,
    ...options.env,
    FUNCTION_TARGET: binding.name,
    FUNCTION_SIGNATURE_TYPE: "cloudevent",
    TETHER_PUSH_PATH: options.path,
    HOST: host,
    TETHER_LOCAL_PARENT_PID: String(process.pid),
  })) {
    if (value !== undefined) env[key] = value;
  }
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", CHILD_ENTRY], {
    cwd: path.resolve(__dirname, ".."),
    env,
    // Its own process group: a Ctrl-C reaches only `npm start`, which stops the workers itself.
    detached: true,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  let stopping = false;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.once("exit", (code, signal) => {
    if (!stopping) {
      logger.error(
        { worker: binding.name, pid: child.pid, code, signal },
        "a worker process exited; its subscription keeps its messages until the stack restarts",
      );
    }
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`worker ${binding.name} did not start within 30 s`)),
      READY_TIMEOUT_MS,
    );
    child.on("message", (message) => {
      const reported = portMessage(message);
      if (reported === undefined) return;
      clearTimeout(timer);
      resolve(reported);
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`worker ${binding.name} exited before it was ready (${child.exitCode ?? child.signalCode})`));
    });
  }).catch((error: unknown) => {
    stopping = true;
    child.kill("SIGKILL");
    throw error;
  });
  const shownHost = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}`,
    port,
    close: async () => {
      stopping = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}
