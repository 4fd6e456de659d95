/**
 * The whole pipeline on this machine: emulators, each environment's topics,
 * subscriptions and bucket, and per environment an ingress, the workers and the API.
 * `local/start.ts` is its command line; tests start it directly.
 *
 * The ingress runs either as instance processes behind one balancer port, as on Cloud Run
 * (`ingressInstances` >= 1, what `npm start` does), or inside this process (the default
 * here: tests read its log lines and start many stacks, and a child costs seconds).
 * The workers run under the functions framework and are pushed to by the emulator
 * (local/push-delivery.ts), each in its own process (`workerProcesses`, what `npm start`
 * does) or in this process (the default, where `wrapWorker` can inject faults). The API
 * shares this process.
 */
import crypto from "node:crypto";
import { startApi } from "../functions/api/server";
import { createIngress } from "../functions/ingress/server";
import { createRuntime, type EnvironmentRuntime, forComponent, type RunningService } from "../functions/runtime";
import { WORKERS } from "../functions/workers";
import { loadSettings } from "../shared/config";
import { type EnvironmentName, localProjectId } from "../shared/environment";
import { createGcpClients } from "../shared/gcp-clients";
import type { Logger } from "../shared/logger";
import { type EmulatorEndpoints, type EmulatorPorts, emulatorEnvironment, startEmulators } from "./emulators";
import { type IngressInstance, type IngressInstances, startIngressInstances } from "./ingress-instances";
import { assertPortFree } from "./ports";
import { provisionEnvironment } from "./provision";
import { startPushedWorkers, type WrapWorker } from "./push-delivery";

export interface LocalStackOptions {
  readonly environments: readonly EnvironmentName[];
  readonly host: string;
  /**
   * Environment i serves its ingress on basePort + 2i and its API on basePort + 2i + 1;
   * 0 picks free ports.
   */
  readonly basePort: number;
  /** Start emulators on these ports, or use emulators that already run. */
  readonly emulators: { start: EmulatorPorts } | { existing: EmulatorEndpoints };
  readonly idleTimeoutSeconds?: number;
  readonly chunkSeconds?: number;
  /** A socket's maximum life before the ingress sends `goaway` (default: the deployed setting). */
  readonly maxSocketSeconds?: number;
  readonly logger: Logger;
  /**
   * Ingress instance processes per environment behind its `ingress_url` (Cloud Run's model);
   * 0 or absent: the ingress runs inside this process.
   */
  readonly ingressInstances?: number;
  /**
   * Each worker in a process of its own, loading the registration that deploys
   * (functions/index.ts). Not with `wrapWorker` or `workerEmulators`, which act on workers
   * running in this process.
   */
  readonly workerProcesses?: boolean;
  /**
   * Fault injection for tests and the chaos run: wraps each worker's handler (by its entry
   * point name) inside the function the framework serves, so a failure answers the push
   * with a 500 and a slow handler holds the push, e.g. to slow it down or make it fail.
   */
  readonly wrapWorker?: WrapWorker;
  /**
   * Fault injection for the chaos run: the emulators the workers' own clients reach, where
   * they differ from `emulators` (e.g. a TCP fault proxy in front of one). The ingress, the
   * API, provisioning and the push configuration keep the direct endpoints.
   */
  readonly workerEmulators?: Partial<EmulatorEndpoints>;
  /**
   * Fault injection for the chaos run: the emulators the ingress instances reach, where they
   * differ from `emulators`. Only with `ingressInstances`.
   */
  readonly ingressEmulators?: Partial<EmulatorEndpoints>;
}

/** One environment's entry in the state file (PROTOCOL.md section 5). */
export interface EnvironmentState {
  ingress_url: string;
  api_url: string;
  project_id: string;
  bucket: string;
  token_secret: string;
  /** The environment's lifecycle notifications (PROTOCOL section 5): a full topic path on the emulator. */
  notifications_topic: string;
  /** The live ingress processes, when the ingress runs as instances (PROTOCOL.md section 5). */
  ingress_instances?: IngressInstance[];
}

export interface StackState {
  envs: Record<string, EnvironmentState>;
  emulators: EmulatorEndpoints;
}

export interface RunningStack {
  readonly state: StackState;
  readonly runtimes: ReadonlyMap<EnvironmentName, EnvironmentRuntime>;
  /** The environment's live ingress processes (empty when its ingress runs in this process). */
  ingressInstances(environment: EnvironmentName): IngressInstance[];
  /**
   * Kills one ingress process (SIGKILL unless told otherwise), as a crashed Cloud Run
   * instance; a replacement follows. False when `pid` is not one of the environment's.
   */
  killIngressInstance(environment: EnvironmentName, pid: number, signal?: NodeJS.Signals): boolean;
  /** Each worker's base URL (by entry point name) in the environment, for the console's overview. */
  workerUrls(environment: EnvironmentName): ReadonlyMap<string, string>;
  /** Each worker process's live pid (by entry point name), with `workerProcesses`; a killed one is replaced. */
  workerPids(environment: EnvironmentName): ReadonlyMap<string, number>;
  /** Called after `state` changed (an ingress instance left or joined). */
  onStateChange(listener: (state: StackState) => void): void;
  stop(): Promise<void>;
}

/**
 * Builds with the emulator variables naming `endpoints`, then restores them: the client
 * libraries read those variables once, in their constructors (and Firestore lets them
 * override any host passed in its settings).
 */
function withEmulators<T>(endpoints: EmulatorEndpoints, build: () => T): T {
  const variables = emulatorEnvironment(endpoints);
  const before = Object.keys(variables).map((key) => [key, process.env[key]] as const);
  Object.assign(process.env, variables);
  try {
    return build();
  } finally {
    for (const [key, value] of before) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

export async function startLocalStack(options: LocalStackOptions): Promise<RunningStack> {
  const { host, logger } = options;
  const stoppers: Array<() => Promise<void>> = [];
  const stop = async (): Promise<void> => {
    // Newest first: servers drain before their clients close, emulators go last.
    for (const stopOne of stoppers.reverse().splice(0)) {
      await stopOne().catch((error: unknown) => logger.error({ err: error }, "error while stopping the local stack"));
    }
  };

  if (options.ingressEmulators !== undefined && !(options.ingressInstances ?? 0)) {
    throw new Error("ingressEmulators act on ingress instance processes: only with ingressInstances");
  }
  if (options.workerProcesses && (options.wrapWorker !== undefined || options.workerEmulators !== undefined)) {
    throw new Error("wrapWorker and workerEmulators act on workers in this process: not with workerProcesses");
  }
  try {
    const ports = options.environments.map((_, i) =>
      options.basePort === 0
        ? { ingress: 0, api: 0 }
        : { ingress: options.basePort + 2 * i, api: options.basePort + 2 * i + 1 },
    );
    for (const [i, environment] of options.environments.entries()) {
      const p = ports[i];
      if (p && p.ingress !== 0) {
        await assertPortFree(host, p.ingress, `${environment} ingress`);
        await assertPortFree(host, p.api, `${environment} API`);
      }
    }

    let endpoints: EmulatorEndpoints;
    if ("start" in options.emulators) {
      const emulators = await startEmulators(host, options.emulators.start);
      stoppers.push(() => emulators.stop());
      endpoints = emulators.endpoints;
    } else {
      endpoints = options.emulators.existing;
    }
    Object.assign(process.env, emulatorEnvironment(endpoints));

    const state: StackState = { envs: {}, emulators: endpoints };
    const runtimes = new Map<EnvironmentName, EnvironmentRuntime>();
    const pools = new Map<EnvironmentName, IngressInstances>();
    const workerUrls = new Map<EnvironmentName, ReadonlyMap<string, string>>();
    const workerPids = new Map<EnvironmentName, () => ReadonlyMap<string, number>>();
    const listeners: Array<(state: StackState) => void> = [];
    // The environments start side by side (each spawns processes); the state lists them in order.
    const entries = await Promise.allSettled(
      options.environments.map(async (environment, i): Promise<EnvironmentState> => {
        const tokenSecret = crypto.randomBytes(32).toString("base64url");
        // The developer's own TETHER_* variables (e.g. extraction thresholds) apply to every environment.
        const variables = {
          ...process.env,
          ...emulatorEnvironment(endpoints),
          TETHER_BUCKET: undefined,
          TETHER_ENVIRONMENT: environment,
          TETHER_PROJECT_ID: localProjectId(environment),
          TETHER_TOKEN_SECRET: tokenSecret,
          TETHER_IDLE_TIMEOUT_SECONDS: String(options.idleTimeoutSeconds ?? 120),
          // Unset: the developer's own, else the settings' default (shared/config.ts).
          TETHER_CHUNK_SECONDS:
            options.chunkSeconds === undefined ? process.env.TETHER_CHUNK_SECONDS : String(options.chunkSeconds),
          TETHER_MAX_SOCKET_SECONDS:
            options.maxSocketSeconds === undefined
              ? process.env.TETHER_MAX_SOCKET_SECONDS
              : String(options.maxSocketSeconds),
          LOG_LEVEL: process.env.LOG_LEVEL,
        };
        const settings = loadSettings(variables);
        const runtime = createRuntime(settings, logger);
        runtimes.set(environment, runtime);
        stoppers.push(() => runtime.clients.close());
        await provisionEnvironment(runtime.resources, runtime.clients);

        let workerRuntime = runtime;
        if (options.workerEmulators !== undefined) {
          const workerEndpoints = { ...endpoints, ...options.workerEmulators };
          workerRuntime = {
            ...runtime,
            clients: withEmulators(workerEndpoints, () => createGcpClients(runtime.resources)),
          };
          const clients = workerRuntime.clients;
          stoppers.push(() => clients.close());
        }
        // The workers start while the API and the ingress do: worker processes take seconds.
        const workersStarting = startPushedWorkers({
          bindings: WORKERS,
          runtime,
          workerRuntime,
          host,
          ...(options.wrapWorker === undefined ? {} : { wrapWorker: options.wrapWorker }),
          // The worker processes log at the level of the stack's own logger.
          ...(options.workerProcesses ? { processes: { ...variables, LOG_LEVEL: logger.level } } : {}),
        });
        const workersStarted = workersStarting.catch(() => undefined); // awaited below
        stoppers.push(async () => {
          await (await workersStarted)?.close();
        });

        const listen = ports[i] ?? { ingress: 0, api: 0 };
        const api: RunningService = await startApi(forComponent(runtime, "api"), {
          host,
          port: listen.api,
        });
        stoppers.push(() => api.close());
        let ingress: RunningService;
        const instances = options.ingressInstances ?? 0;
        if (instances > 0) {
          const pool = await startIngressInstances({
            host,
            port: listen.ingress,
            count: instances,
            // The instances log at the level of the stack's own logger.
            env: {
              ...variables,
              ...emulatorEnvironment({ ...endpoints, ...options.ingressEmulators }),
              LOG_LEVEL: logger.level,
            },
            logger: runtime.logger.child({ component: "ingress-balancer" }),
          });
          pools.set(environment, pool);
          ingress = { url: pool.url, port: pool.port, close: () => pool.close() };
        } else {
          ingress = await createIngress(forComponent(runtime, "ingress")).listen({ host, port: listen.ingress });
        }
        stoppers.push(() => ingress.close());
        const workers = await workersStarting;
        workerUrls.set(environment, workers.urls);
        workerPids.set(environment, workers.pids);

        const entry: EnvironmentState = {
          ingress_url: ingress.url,
          api_url: api.url,
          project_id: runtime.resources.projectId,
          bucket: runtime.resources.bucket,
          token_secret: tokenSecret,
          notifications_topic: `projects/${runtime.resources.projectId}/topics/${runtime.resources.topics.notifications}`,
        };
        const pool = pools.get(environment);
        if (pool) {
          entry.ingress_instances = pool.list();
          pool.onChange(() => {
            entry.ingress_instances = pool.list();
            for (const listener of listeners) listener(state);
          });
        }
        return entry;
      }),
    );
    const failed = entries.find((result) => result.status === "rejected");
    if (failed !== undefined) throw failed.reason;
    for (const [i, environment] of options.environments.entries()) {
      const entry = entries[i];
      if (entry?.status === "fulfilled") state.envs[environment] = entry.value;
    }
    return {
      state,
      runtimes,
      ingressInstances: (environment) => pools.get(environment)?.list() ?? [],
      killIngressInstance: (environment, pid, signal) => pools.get(environment)?.kill(pid, signal) ?? false,
      workerUrls: (environment) => workerUrls.get(environment) ?? new Map(),
      workerPids: (environment) => workerPids.get(environment)?.() ?? new Map(),
      onStateChange: (listener) => {
        listeners.push(listener);
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
