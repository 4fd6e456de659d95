/**
 * A local worker in a process of its own (local/worker-child.ts), as `npm start` runs
 * each: spawned with the environment's settings, ready once it reports the port it serves,
 * and replaced when it dies, as Cloud Run replaces a crashed instance. The caller stops the
 * pushes when it dies (`onExited`) and points them at its replacement, which serves on a
 * port of its own (`onReplaced`); meanwhile its messages wait in the subscription, so
 * nothing is lost, only delayed. Restarts back off (`restartDelayMs`), so a worker that
 * crashes at start-up does not spin.
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
/** Restart backoff: the first restart waits `firstMs`, each crash in a row doubles it up to `maxMs`. */
export const RESTART_BACKOFF = { firstMs: 500, maxMs: 30_000, healthyAfterMs: 60_000 } as const;

/**
 * How long to wait before restart number `crashesInRow` (1 for the first crash after a
 * healthy run). Pure.
 */
export function restartDelayMs(crashesInRow: number): number {
  return Math.min(RESTART_BACKOFF.maxMs, RESTART_BACKOFF.firstMs * 2 ** Math.max(0, crashesInRow - 1));
}

function portMessage(message: unknown): number | undefined {
  if (typeof message !== "object" || message === null || !("port" in message)) return undefined;
  const { port } = message as { port: unknown };
  return typeof port === "number" && Number.isInteger(port) && port > 0 ? port : undefined;
}

/** One started worker process. */
interface Started {
  readonly child: ChildProcess;
  readonly port: number;
  readonly exited: Promise<void>;
  readonly startedAt: number;
}

/** What a worker process serves now: a replacement has another port and pid. */
export interface WorkerProcess extends ServedWorker {
  readonly pid: number | undefined;
}

export interface WorkerProcessOptions {
  readonly binding: WorkerBinding;
  /** The push path it serves (shared/pipeline.ts `pushPath`). */
  readonly path: string;
  readonly host: string;
  /** Its settings: the variables functions/runtime.ts reads, emulator hosts, LOG_LEVEL. */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly logger: Logger;
  /** The process died: stop pushing to it (before its replacement starts). */
  readonly onExited?: () => Promise<void>;
  /** A replacement serves: point the subscription at it. */
  readonly onReplaced?: (worker: WorkerProcess) => Promise<void>;
}

function urlOf(host: string, port: number): string {
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

async function startOne(options: WorkerProcessOptions): Promise<Started> {
  const { binding, host } = options;
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
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
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
  }).catch(async (error: unknown) => {
    child.kill("SIGKILL");
    await exited;
    throw error;
  });
  return { child, port, exited, startedAt: Date.now() };
}

/** Starts the worker's process (rejects if the first one does not serve) and keeps one running until `close`. */
export async function spawnWorkerProcess(options: WorkerProcessOptions): Promise<WorkerProcess> {
  const { binding, host, logger } = options;
  let current = await startOne(options);
  let stopping = false;
  let crashesInRow = 0;
  let restarting: Promise<void> = Promise.resolve();
  // The pending backoff, cut short by `close`.
  let restartTimer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      wake = resolve;
      restartTimer = setTimeout(resolve, ms);
    });
  const view: WorkerProcess = {
    get url() {
      return urlOf(host, current.port);
    },
    get port() {
      return current.port;
    },
    get pid() {
      return current.child.pid;
    },
    close: async () => {
      stopping = true;
      clearTimeout(restartTimer);
      wake?.();
      await restarting;
      const { child, exited } = current;
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
  };

  const restart = async (): Promise<void> => {
    while (!stopping) {
      const attempt = await startOne(options).catch((error: unknown) => {
        crashesInRow += 1;
        logger.error(
          { worker: binding.name, err: error, conversation_id: null, restart_in_ms: restartDelayMs(crashesInRow) },
          "a worker process failed to start; trying again",
        );
        return undefined;
      });
      if (attempt === undefined) {
        await pause(restartDelayMs(crashesInRow));
        continue;
      }
      if (stopping) {
        attempt.child.kill("SIGTERM");
        await attempt.exited;
        return;
      }
      const previous = current.child.pid;
      current = attempt;
      watch(attempt);
      logger.warn(
        {
          worker: binding.name,
          pid: attempt.child.pid,
          previous_pid: previous,
          port: attempt.port,
          conversation_id: null,
        },
        "a worker process was replaced",
      );
      await options
        .onReplaced?.(view)
        .catch((error: unknown) =>
          logger.error(
            { worker: binding.name, err: error, conversation_id: null },
            "could not point pushes at a replaced worker",
          ),
        );
      return;
    }
  };

  const watch = (started: Started): void => {
    started.child.once("exit", (code, signal) => {
      if (stopping) return;
      // A process that served a while crashed once; one that dies soon after start is in a crash loop.
      crashesInRow = Date.now() - started.startedAt >= RESTART_BACKOFF.healthyAfterMs ? 1 : crashesInRow + 1;
      const delay = restartDelayMs(crashesInRow);
      logger.error(
        { worker: binding.name, pid: started.child.pid, code, signal, restart_in_ms: delay, conversation_id: null },
        "a worker process exited; its messages wait in its subscription until its replacement serves",
      );
      const exited = (options.onExited?.() ?? Promise.resolve()).catch((error: unknown) =>
        logger.error(
          { worker: binding.name, err: error, conversation_id: null },
          "could not stop pushes to a dead worker",
        ),
      );
      restarting = Promise.all([exited, pause(delay)]).then(restart);
    });
  };
  watch(current);
  return view;
}
