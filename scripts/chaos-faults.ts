/**
 * The process faults of `npm run chaos`. The workers' are injected in the real delivery path through the
 * local stack's `wrapWorker` (local/stack.ts): each delivery is slowed by a random delay,
 * fails at random with a transient gRPC UNAVAILABLE (code 14, so the framework answers
 * the push 500 and the emulator pushes it again), and is delivered 1 to 3 times in all, the extra deliveries
 * concurrently and after random delays (so out of order). And the ingress: instance
 * processes SIGKILLed at random while clients stream to them. Every choice comes from the
 * run's PRNG.
 */

import { integerBetween, type Random } from "../local/seeded-random";
import type { EnvironmentName } from "../shared/environment";
import { decodePubSubEvent, type PubSubHandler } from "../shared/pubsub-event";

export interface WorkerFaultOptions {
  /** Each delivery waits 0 to this many ms before the handler runs. */
  readonly maxDelayMs: number;
  /** Probability that a delivery fails with a transient error (before or after the handler ran). */
  readonly failureRate: number;
  /** Extra deliveries of the same message arrive up to this many ms later. */
  readonly maxDuplicateDelayMs: number;
}

export interface FaultCounters {
  deliveries: number;
  duplicates: number;
  injectedFailures: number;
  /** Errors of the handler itself (not injected), by worker, conversation (when the message names one) and message. */
  handlerErrors: Map<string, number>;
  /**
   * The extra deliveries still waiting or running. The push path knows nothing of them, so the
   * run waits for them (`extraDeliveriesSettled`) before it stops the stack: one that ran on
   * after would meet closed clients.
   */
  readonly extraDeliveries: Set<Promise<void>>;
}

export function newFaultCounters(): FaultCounters {
  return { deliveries: 0, duplicates: 0, injectedFailures: 0, handlerErrors: new Map(), extraDeliveries: new Set() };
}

/** Resolves once no extra delivery waits or runs (including ones that start meanwhile). */
export async function extraDeliveriesSettled(counters: FaultCounters): Promise<void> {
  while (counters.extraDeliveries.size > 0) await Promise.allSettled([...counters.extraDeliveries]);
}

/** A transient failure as the Google clients report one: gRPC UNAVAILABLE. */
export class InjectedUnavailable extends Error {
  readonly code = 14;
  constructor(worker: string) {
    super(`14 UNAVAILABLE: injected by the chaos run in ${worker}`);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** " [conversation id]" of a message that names one, so a replay shows which conversation a worker stuck on. */
function conversationOf(event: Parameters<PubSubHandler>[0]): string {
  try {
    const id = decodePubSubEvent(event).attributes.conversation_id;
    return id === undefined ? "" : ` [${id}]`;
  } catch {
    return ""; // a malformed envelope: the worker's own error says so
  }
}

/** The `wrapWorker` of the chaos run. */
export function faultyWorkers(
  random: Random,
  options: WorkerFaultOptions,
  counters: FaultCounters,
): (worker: string, environment: string, handler: PubSubHandler) => PubSubHandler {
  return (worker, _environment, handler) => {
    const once: PubSubHandler = async (event) => {
      counters.deliveries += 1;
      await sleep(integerBetween(random, 0, options.maxDelayMs));
      const failBefore = random() < options.failureRate / 2;
      const failAfter = random() < options.failureRate / 2;
      if (failBefore) {
        counters.injectedFailures += 1;
        throw new InjectedUnavailable(worker);
      }
      try {
        await handler(event);
      } catch (error) {
        const key = `${worker}${conversationOf(event)}: ${(error as Error).message}`.slice(0, 200);
        counters.handlerErrors.set(key, (counters.handlerErrors.get(key) ?? 0) + 1);
        throw error;
      }
      if (failAfter) {
        // The work is done but the delivery is reported failed: Pub/Sub delivers it again.
        counters.injectedFailures += 1;
        throw new InjectedUnavailable(worker);
      }
    };
    return async (event) => {
      const extra = integerBetween(random, 0, 2);
      for (let i = 0; i < extra; i += 1) {
        counters.duplicates += 1;
        const after = integerBetween(random, 0, options.maxDuplicateDelayMs);
        // A duplicate's failure is like a nacked redelivery whose original already succeeded or
        // is pushed again: nothing depends on it, it is only counted.
        const delivery = sleep(after)
          .then(() => once(event))
          .catch(() => undefined)
          .finally(() => counters.extraDeliveries.delete(delivery));
        counters.extraDeliveries.add(delivery);
      }
      await once(event);
    };
  };
}

/** What the ingress killer needs of the running stack (local/stack.ts `RunningStack`). */
export interface IngressPools {
  ingressInstances(environment: EnvironmentName): ReadonlyArray<{ readonly pid: number }>;
  killIngressInstance(environment: EnvironmentName, pid: number, signal?: NodeJS.Signals): boolean;
}

export interface IngressKiller {
  /** Instances SIGKILLed (crashes). */
  readonly kills: () => number;
  /** Instances SIGTERMed (drains: their sockets get `goaway` and hand over). */
  readonly drains: () => number;
  stop(): void;
}

/**
 * Stops one ingress instance every `minMs` to `maxMs`: SIGKILL, as a crashed Cloud Run
 * instance, and SIGTERM, as at a deploy or scale-in (it drains: `goaway`, handover), in
 * turn; of an environment chosen at random, and only where another instance is live,
 * so its clients have one to resume on (the stack starts a replacement). The environment,
 * the instance and the interval come from the run's PRNG.
 */
export function killIngressInstances(
  pools: IngressPools,
  environments: readonly EnvironmentName[],
  random: Random,
  every: { readonly minMs: number; readonly maxMs: number },
): IngressKiller {
  let kills = 0;
  let drains = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = (): void => {
    const first = integerBetween(random, 0, environments.length - 1);
    const choice = integerBetween(random, 0, 1_000_000);
    // In turn, so a short run has both.
    const signal: NodeJS.Signals = (kills + drains) % 2 === 0 ? "SIGKILL" : "SIGTERM";
    for (let i = 0; i < environments.length; i += 1) {
      const environment = environments[(first + i) % environments.length];
      if (environment === undefined) continue;
      const live = pools.ingressInstances(environment);
      const victim = live[choice % live.length];
      if (live.length >= 2 && victim !== undefined && pools.killIngressInstance(environment, victim.pid, signal)) {
        if (signal === "SIGKILL") kills += 1;
        else drains += 1;
        return;
      }
    }
  };
  const next = (): void => {
    timer = setTimeout(
      () => {
        if (stopped) return;
        tick();
        next();
      },
      integerBetween(random, every.minMs, every.maxMs),
    );
  };
  next();
  return {
    kills: () => kills,
    drains: () => drains,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
