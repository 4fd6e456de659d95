/**
 * An environment's ingress as Cloud Run runs it: N instance processes
 * (`local/ingress-child.ts`, i.e. `functions/ingress/main.ts`) behind one balancer port
 * (`ingress-balancer.ts`), which hands each new connection to one of them. Each instance gets
 * the environment's settings as environment variables and also listens on a free port of
 * its own (its `url` in the state file). An instance that dies (a crash, a
 * SIGKILL) leaves the balancer at once, its clients are cut and resume on another instance,
 * and a replacement is started. An instance that drains (SIGTERM: it sends its sockets
 * `goaway`) leaves the balancer as soon as it says so, and its replacement starts at once, as
 * Cloud Run routes new requests past an instance it is shutting down. Listeners hear of every change, so the state file can
 * list the live instances.
 */
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import type { Logger } from "../shared/logger";
import { LISTEN_PATH } from "../shared/protocol";
import { childTarget, onDraining, startIngressBalancer } from "./ingress-balancer";
import { freePort } from "./ports";

/** One live instance, as the state file lists it (PROTOCOL.md section 5). */
export interface IngressInstance {
  readonly pid: number;
  readonly url: string;
}

export interface IngressInstances {
  /** The environment's one `ingress_url` (the balancer). */
  readonly url: string;
  readonly port: number;
  /** The live instances, oldest first. */
  list(): IngressInstance[];
  /** Sends `signal` (SIGKILL by default) to the instance with this pid; false when it is not one of them. */
  kill(pid: number, signal?: NodeJS.Signals): boolean;
  /** Called after an instance left or joined. */
  onChange(listener: () => void): void;
  /** Drains every instance (SIGTERM, as Cloud Run does), then closes the balancer. */
  close(): Promise<void>;
}

interface Running {
  readonly id: number;
  readonly child: ChildProcess;
  readonly port: number;
  readonly exited: Promise<void>;
}

const CHILD_ENTRY = path.join(__dirname, "ingress-child.ts");
const READY_TIMEOUT_MS = 30_000;
/** How long a stopping instance may drain before it is killed. */
const STOP_TIMEOUT_MS = 15_000;
const OUTPUT_TAIL_CHARS = 4000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function healthy(host: string, port: number): Promise<boolean> {
  return await fetch(`http://${host}:${port}/healthz`)
    .then((r) => r.ok)
    .catch(() => false);
}

export async function startIngressInstances(options: {
  host: string;
  /** The balancer's port; 0 picks a free one. */
  port: number;
  count: number;
  /** The variables `functions/ingress/main.ts` reads (settings, emulator hosts, LOG_LEVEL). */
  env: Readonly<Record<string, string | undefined>>;
  logger: Logger;
}): Promise<IngressInstances> {
  const { host, logger } = options;
  const balancer = await startIngressBalancer({ host, port: options.port, logger });
  const running: Running[] = [];
  const listeners: Array<() => void> = [];
  let nextId = 1;
  let closing = false;
  const changed = (): void => {
    for (const listener of listeners) listener();
  };

  const spawnOne = async (): Promise<Running> => {
    const port = await freePort(host);
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries({
      ...process.env,
      ...options.env,
      PORT: String(port),
      HOST: host,
      TETHER_LOCAL_PARENT_PID: String(process.pid),
    })) {
      if (value !== undefined) env[key] = value;
    }
    const child = spawn(process.execPath, ["--import", "tsx", CHILD_ENTRY], {
      cwd: path.resolve(__dirname, ".."),
      env,
      // Its own process group: a Ctrl-C in the terminal reaches only `npm start`, which then
      // drains the instances itself (and does not mistake them for crashed ones).
      detached: true,
      // The IPC channel carries the connections the balancer hands over (ingress-balancer.ts).
      stdio: ["ignore", "pipe", "pipe", "ipc"],
    });
    let tail = "";
    const keep = (data: Buffer): void => {
      tail = (tail + data.toString()).slice(-OUTPUT_TAIL_CHARS);
    };
    // The instance's log lines go where the stack's own go.
    child.stdout?.on("data", keep).pipe(process.stdout, { end: false });
    child.stderr?.on("data", keep).pipe(process.stderr, { end: false });
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `an ingress instance exited before it was ready (${child.exitCode ?? child.signalCode}):\n${tail}`,
        );
      }
      if (await healthy(host, port)) break;
      if (Date.now() > deadline || closing) {
        child.kill("SIGKILL");
        throw new Error(`an ingress instance did not become healthy on port ${port}:\n${tail}`);
      }
      await sleep(100);
    }
    return { id: nextId++, child, port, exited };
  };

  const join = (instance: Running): void => {
    running.push(instance);
    balancer.add(childTarget(instance.id, instance.child));
    let replaced = false;
    onDraining(instance.child, () => {
      balancer.remove(instance.id);
      if (closing) return;
      replaced = true;
      logger.info(
        { conversation_id: null, pid: instance.child.pid, instances: running.length },
        "ingress instance draining: no new connection goes to it, starting its replacement",
      );
      void replace();
    });
    instance.child.once("exit", (code, signal) => {
      const index = running.indexOf(instance);
      if (index >= 0) running.splice(index, 1);
      balancer.remove(instance.id);
      if (closing) return;
      if (replaced) {
        logger.info(
          { conversation_id: null, pid: instance.child.pid, code, signal },
          "drained ingress instance exited",
        );
        changed();
        return;
      }
      logger.warn(
        { conversation_id: null, pid: instance.child.pid, code, signal, instances: running.length },
        "ingress instance exited: its clients resume on another, starting a replacement",
      );
      changed();
      void replace();
    });
  };

  const replace = async (): Promise<void> => {
    while (!closing) {
      try {
        const instance = await spawnOne();
        if (closing) {
          instance.child.kill("SIGTERM");
          return;
        }
        join(instance);
        logger.info(
          { conversation_id: null, pid: instance.child.pid, instances: running.length },
          "ingress instance replaced",
        );
        changed();
        return;
      } catch (error) {
        logger.error({ err: error, conversation_id: null }, "an ingress replacement failed to start; trying again");
        await sleep(1000);
      }
    }
  };

  const stopAll = (): void => {
    for (const instance of running) instance.child.kill("SIGTERM");
  };
  process.once("exit", stopAll);

  const close = async (): Promise<void> => {
    closing = true;
    process.off("exit", stopAll);
    const stopping = [...running];
    for (const instance of stopping) instance.child.kill("SIGTERM");
    const killer = setTimeout(() => {
      for (const instance of stopping) instance.child.kill("SIGKILL");
    }, STOP_TIMEOUT_MS);
    await Promise.all(stopping.map((instance) => instance.exited));
    clearTimeout(killer);
    await balancer.close();
  };

  const started = await Promise.allSettled(Array.from({ length: options.count }, () => spawnOne()));
  for (const result of started) if (result.status === "fulfilled") join(result.value);
  const failed = started.find((result) => result.status === "rejected");
  if (failed) {
    await close();
    throw failed.reason;
  }

  return {
    url: `ws://${host}:${balancer.port}${LISTEN_PATH}`,
    port: balancer.port,
    list: () =>
      running.map((instance) => ({
        pid: instance.child.pid ?? 0,
        url: `ws://${host}:${instance.port}${LISTEN_PATH}`,
      })),
    kill(pid, signal = "SIGKILL") {
      const instance = running.find((r) => r.child.pid === pid);
      if (!instance) return false;
      instance.child.kill(signal);
      return true;
    },
    onChange(listener) {
      listeners.push(listener);
    },
    close,
  };
}
