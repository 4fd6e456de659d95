/**
 * One local worker as its own process: the registration that deploys (functions/index.ts)
 * served for `FUNCTION_TARGET` (the framework's own variable) by the framework's server
 * (local/worker-server.ts). Settings come from the environment, as deployed. It tells the
 * `npm start` that spawned it its port over the IPC channel, stops on SIGTERM once its
 * pushes are answered, and exits when that parent is gone.
 */
import "../functions/index";
import { WORKERS } from "../functions/workers";
import { serveRegisteredFunction } from "./worker-server";

const target = process.env.FUNCTION_TARGET;
const binding = WORKERS.find((worker) => worker.name === target);
const path = process.env.TETHER_PUSH_PATH;
if (binding === undefined || path === undefined) {
  process.stderr.write(`worker-child: FUNCTION_TARGET names no worker (${target}) or TETHER_PUSH_PATH is unset\n`);
  process.exit(2);
}

serveRegisteredFunction({
  target: binding.name,
  path,
  ackDeadlineSeconds: binding.worker.delivery.ackDeadlineSeconds,
  host: process.env.HOST ?? "127.0.0.1",
  port: 0,
}).then(
  (served) => {
    process.send?.({ port: served.port });
    process.once("SIGTERM", () => {
      void served.close().then(() => process.exit(0));
    });
  },
  (error: unknown) => {
    process.stderr.write(`worker-child: could not serve ${binding.name}: ${String(error)}\n`);
    process.exit(1);
  },
);

const parent = Number(process.env.TETHER_LOCAL_PARENT_PID ?? process.ppid);
setInterval(() => {
  if (process.ppid !== parent) process.kill(process.pid, "SIGTERM");
}, 1000).unref();
