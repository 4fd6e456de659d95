/**
 * Reads the overview of one local environment (local/console-overview.ts): each ingress
 * process's `/healthz` (its open sockets), each worker's push statistics (`GET` on its push
 * path, local/worker-server.ts), and the messages waiting in the pull subscriptions.
 */
import type { EnvironmentRuntime } from "../functions/runtime";
import { WORKERS } from "../functions/workers";
import { pushPath, type SubscriptionKey } from "../shared/pipeline";
import type { IngressView, OverviewAnswer, SubscriptionView } from "./console-overview";
import type { PushStatsView } from "./worker-server";

const TIMEOUT_MS = 2000;

async function getJson(url: string): Promise<unknown> {
  const response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return await response.json();
}

/** `ws://host:port/v1/listen` → `http://host:port/healthz`. Pure. */
export function healthUrl(ingressUrl: string): string {
  const url = new URL(ingressUrl);
  url.protocol = url.protocol === "wss:" ? "https:" : "http:";
  url.pathname = "/healthz";
  return url.toString();
}

async function ingressView(instance: { pid: number | null; url: string }): Promise<IngressView> {
  try {
    const health = (await getJson(healthUrl(instance.url))) as { status?: string; connections?: number };
    return { ...instance, status: health.status ?? "ok", sockets: health.connections ?? null };
  } catch (error) {
    return { ...instance, status: `not answering: ${(error as Error).message}`, sockets: null };
  }
}

/** What the overview reads of a console environment (console-server.ts's `ConsoleEnvironment` has these). */
export interface OverviewSources {
  readonly name: string;
  /** The ingress processes (pid null: inside the stack) and the workers' URLs. */
  readonly ingress?: () => ReadonlyArray<{ pid: number | null; url: string }>;
  readonly workerUrls?: () => ReadonlyMap<string, string>;
}

type Peek = (runtime: EnvironmentRuntime, key: "deadLetter" | "notificationsRecent") => Promise<unknown[]>;

export async function overview(env: OverviewSources, runtime: EnvironmentRuntime, peek: Peek): Promise<OverviewAnswer> {
  const { resources } = runtime;
  const workerUrls = env.workerUrls?.() ?? new Map<string, string>();
  const pushed = WORKERS.map(async (binding): Promise<SubscriptionView> => {
    const base: SubscriptionView = {
      key: binding.subscription,
      name: resources.subscriptions[binding.subscription],
      worker: binding.name,
      waiting: null,
      oldest_ms: null,
      outcomes: null,
      problem: null,
    };
    const url = workerUrls.get(binding.name);
    if (url === undefined) return { ...base, problem: "its worker runs outside this console's stack" };
    try {
      const stats = (await getJson(
        `${url}${pushPath(resources.projectId, resources.topics[binding.topic])}`,
      )) as PushStatsView;
      return { ...base, waiting: stats.in_flight, oldest_ms: stats.oldest_ms, outcomes: stats.outcomes };
    } catch (error) {
      return { ...base, problem: `the worker did not answer: ${(error as Error).message}` };
    }
  });
  const pulled = (["deadLetter", "notificationsRecent"] as const).map(async (key): Promise<SubscriptionView> => {
    const base = {
      key: key as SubscriptionKey,
      name: resources.subscriptions[key],
      worker: null,
      oldest_ms: null,
      outcomes: null,
    };
    try {
      return { ...base, waiting: (await peek(runtime, key)).length, problem: null };
    } catch (error) {
      return { ...base, waiting: null, problem: `cannot read: ${(error as Error).message}` };
    }
  });
  const [ingress, subscriptions] = await Promise.all([
    Promise.all((env.ingress?.() ?? []).map(ingressView)),
    Promise.all([...pushed, ...pulled]),
  ]);
  return { environment: env.name, ingress, subscriptions };
}
