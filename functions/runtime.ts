/**
 * What every deployable runs with: one environment's settings, clients and logger.
 *
 * In Google Cloud each process serves one environment and builds its runtime from the
 * process environment (`runtimeFromProcessEnv`). The local stack builds one runtime per
 * environment in a single process, which is why nothing below reads globals.
 */
import { loadSettings, type Settings } from "../shared/config";
import type { EnvironmentResources } from "../shared/environment";
import { createGcpClients, type GcpClients } from "../shared/gcp-clients";
import { createLogger, environmentLogger, type Logger } from "../shared/logger";

export interface EnvironmentRuntime {
  readonly settings: Settings;
  readonly resources: EnvironmentResources;
  readonly clients: GcpClients;
  /** Carries `environment` on every line. */
  readonly logger: Logger;
}

export function createRuntime(settings: Settings, logger?: Logger): EnvironmentRuntime {
  const base = logger ?? createLogger({ level: settings.logLevel });
  return {
    settings,
    resources: settings.resources,
    clients: createGcpClients(settings.resources),
    logger: environmentLogger(base, settings.resources),
  };
}

/** The same runtime, logging as `component` (ingress, api, persist-audio, ...). */
export function forComponent(runtime: EnvironmentRuntime, component: string): EnvironmentRuntime {
  return { ...runtime, logger: runtime.logger.child({ component }) };
}

/** For deployed entry points: settings from the process environment, validated. */
export function runtimeFromProcessEnv(component: string): EnvironmentRuntime {
  return forComponent(createRuntime(loadSettings(process.env)), component);
}

/** A listening server of the local stack or of a deployed container. */
export interface RunningService {
  /** Base URL, e.g. `ws://127.0.0.1:8701/v1/listen` for the ingress or `http://127.0.0.1:8702` for the API. */
  readonly url: string;
  readonly port: number;
  /** Graceful stop: the ingress drains its sockets (1012) before it resolves. */
  close(): Promise<void>;
}
