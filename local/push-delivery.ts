/**
 * How the local stack feeds its workers: as deployed. Each worker is the function
 * functions/workers.ts makes of it, served by the functions framework's own server
 * (local/worker-server.ts), and the emulator's subscription (created from the pipeline
 * declaration by local/provision.ts, with its ack deadline and no retry policy) pushes
 * to it at `<url>/projects/P/topics/T`, the path the framework turns into a CloudEvent.
 * A subscription pushes only while its worker listens: it becomes a push subscription once
 * the server is up and a pull subscription again before the server stops, so what is
 * published meanwhile waits in the subscription, and no push reaches a port that another
 * stack may have taken since.
 *
 * Where the emulator's push differs from Pub/Sub's, measured on the Pub/Sub emulator 0.8.20
 * (test/integration/push-delivery.test.ts checks the first four):
 * - Concurrency: it has at most 2 pushes of a subscription in flight, however long the
 *   backlog (200 pushes held unanswered: 2 arrived; 300 messages to a 50 ms handler: 8.6 s,
 *   about 2 at a time). Pub/Sub scales out to as many function instances as the backlog
 *   needs. Locally a worker drains at most 2 messages per handler time; the chaos run's
 *   duplicate deliveries (scripts/chaos-faults.ts) add the concurrency the emulator lacks.
 *   The 2 is fixed in the emulator (2 push loops per subscription), so under a heavy load,
 *   or workers slowed on purpose (`npm run chaos` slows each delivery by up to 300 ms), the
 *   backlog drains slower than it does deployed (bench/NOTES.md).
 *   Nor can the local stack add loops with several filtered subscriptions per worker: the
 *   emulator stores a subscription's `filter` and ignores it (a subscription filtered on
 *   `attributes.shard = "a"` received both an "a" and a "b" message), so each would get all.
 * - Backoff: with any retry policy (1..10 s, or 2..2 s), the emulator stopped pushing a
 *   message after 2 or 3 failed pushes once others were pushed too: 61 of 300 messages,
 *   each failing its first 6 pushes, were not pushed again in the next 2 minutes. Without
 *   one, a failed push (a non-2xx answer, or a cut connection) comes again after 1.0 to
 *   1.4 s, every time. So the local subscriptions have no retry policy (shared/pipeline.ts);
 *   Pub/Sub waits the deployed policy's minimum and doubles it up to the maximum. The push
 *   body carries no `deliveryAttempt`. A failure does not hold its loop: the emulator sets
 *   the message's deadline to 1 s and pushes the next one at once (its PushLoop, read from
 *   the jar).
 * - No push timeout: the emulator waits for a push as long as the worker takes (one held
 *   25 s under a 10 s ack deadline was not pushed again) and meanwhile holds that slot.
 *   Deployed, Cloud Run ends a request at the function timeout, which equals the ack
 *   deadline, and Pub/Sub delivers the message again. So the local worker server cuts a
 *   push connection at the ack deadline itself, and the emulator pushes the message again
 *   while the first run may go on, as deployed.
 * - A dead endpoint stalls a subscription's pushes: after its endpoint refused connections
 *   for 6 s, the emulator pushed none of 5 messages in the next 20 s, not even once the
 *   subscription was pointed at a live endpoint, nor after a switch to pull and back.
 *   Switched to pull as the endpoint died, and to push once a live one served, it delivered
 *   all 5 at once. So when a worker process dies its subscription pulls until its
 *   replacement serves (local/worker-processes.ts); Pub/Sub keeps retrying with backoff.
 * - Plain `http` endpoints and no push authentication (Pub/Sub requires https and signs
 *   each push with the worker's service account).
 *
 * Where a worker runs: in this process by default (tests start many stacks, and wrap the
 * handler to inject faults, `wrapWorker`), or each in its own process (`processes`, what
 * `npm start` does), where the child loads functions/index.ts, the registration that
 * deploys, and serves its target with the same server.
 */

import * as functions from "@google-cloud/functions-framework";
import type { PubSub } from "@google-cloud/pubsub";
import type { EnvironmentRuntime } from "../functions/runtime";
import { forComponent } from "../functions/runtime";
import { type WorkerBinding, workerFunction } from "../functions/workers";
import type { EnvironmentName } from "../shared/environment";
import { pushPath } from "../shared/pipeline";
import type { PubSubHandler } from "../shared/pubsub-event";
import { spawnWorkerProcess, type WorkerProcess } from "./worker-processes";
import { type ServedWorker, serveRegisteredFunction } from "./worker-server";

export type WrapWorker = (worker: string, environment: EnvironmentName, handler: PubSubHandler) => PubSubHandler;

export interface PushedWorkers {
  /** Each worker's base URL, by entry point name. */
  readonly urls: ReadonlyMap<string, string>;
  /** Each worker process's live pid, by entry point name (empty when the workers run in this process). */
  pids(): ReadonlyMap<string, number>;
  /** Stops the pushes, then the workers (each finishes what it was pushed). */
  close(): Promise<void>;
}

/** Makes `subscription` push to `endpoint`, or (undefined) a pull subscription again. */
export async function setPushEndpoint(pubsub: PubSub, subscription: string, endpoint: string | undefined) {
  await pubsub.subscription(subscription).modifyPushConfig(endpoint === undefined ? {} : { pushEndpoint: endpoint });
}

let registrations = 0;

/** Registers `fn` with the framework under a name of its own (one process runs many stacks). */
function registerLocally(binding: WorkerBinding, fn: PubSubHandler): string {
  registrations += 1;
  const name = `${binding.name}-local-${registrations}`;
  functions.cloudEvent<unknown>(name, fn);
  return name;
}

/**
 * Starts each worker of `bindings` for one environment and points its subscription at it.
 * `processes`: the environment variables of a worker process (its settings), to run each
 * worker in a process of its own; absent, the workers run in this process on `workerRuntime`.
 */
export async function startPushedWorkers(options: {
  readonly bindings: readonly WorkerBinding[];
  /** Its Pub/Sub client sets the push endpoints (the direct emulator, never a fault proxy). */
  readonly runtime: EnvironmentRuntime;
  /** The runtime in-process workers use (its clients may reach the emulators through a proxy). */
  readonly workerRuntime: EnvironmentRuntime;
  readonly host: string;
  readonly wrapWorker?: WrapWorker;
  readonly processes?: Readonly<Record<string, string | undefined>>;
}): Promise<PushedWorkers> {
  const { runtime, host } = options;
  const { environment, projectId } = runtime.resources;
  const pushed: string[] = [];
  const served: ServedWorker[] = [];
  const urls = new Map<string, string>();
  const processes = new Map<string, WorkerProcess>();
  let closing = false;
  const close = async (): Promise<void> => {
    closing = true;
    await Promise.all(pushed.splice(0).map((name) => setPushEndpoint(runtime.clients.pubsub, name, undefined)));
    await Promise.all(served.splice(0).map((worker) => worker.close()));
  };
  // Each worker starts at once (a process takes a second or two); the first failure stops the rest.
  const started = await Promise.allSettled(
    options.bindings.map(async (binding) => {
      const path = pushPath(projectId, runtime.resources.topics[binding.topic]);
      let worker: ServedWorker;
      const subscription = runtime.resources.subscriptions[binding.subscription];
      if (options.processes !== undefined) {
        const spawned = await spawnWorkerProcess({
          binding,
          path,
          host,
          env: options.processes,
          logger: runtime.logger,
          // A dead endpoint stalls the emulator's pushes for good (see above): pull until a replacement serves.
          onExited: async () => {
            if (!closing) await setPushEndpoint(runtime.clients.pubsub, subscription, undefined);
          },
          onReplaced: async (replaced) => {
            if (closing) return;
            urls.set(binding.name, replaced.url);
            await setPushEndpoint(runtime.clients.pubsub, subscription, `${replaced.url}${path}`);
          },
        });
        processes.set(binding.name, spawned);
        worker = spawned;
      } else {
        const own = forComponent(options.workerRuntime, binding.name);
        const handler = (options.wrapWorker ?? ((_w, _e, h) => h))(binding.name, environment, binding.create(own));
        const target = registerLocally(
          binding,
          workerFunction(binding, handler, own.logger, own.resources.environment),
        );
        const ackDeadlineSeconds = binding.worker.delivery.ackDeadlineSeconds;
        worker = await serveRegisteredFunction({ target, path, ackDeadlineSeconds, host, port: 0 });
      }
      served.push(worker);
      urls.set(binding.name, worker.url);
      await setPushEndpoint(runtime.clients.pubsub, subscription, `${worker.url}${path}`);
      pushed.push(subscription);
    }),
  );
  const failure = started.find((result) => result.status === "rejected");
  if (failure !== undefined) {
    await close();
    throw failure.reason;
  }
  const pids = () =>
    new Map(
      [...processes].flatMap(([name, worker]) => (worker.pid === undefined ? [] : [[name, worker.pid] as const])),
    );
  return { urls, pids, close };
}
