/**
 * One local ingress instance as its own process: exactly what Cloud Run runs
 * (`functions/ingress/main.ts`, settings from the environment variables), plus one local
 * rule: when the `npm start` that spawned it (`TETHER_LOCAL_PARENT_PID`) is gone, it drains
 * and exits as on SIGTERM, so that an abruptly killed stack leaves no instance holding a port.
 */
import "../functions/ingress/main";

const parent = Number(process.env.TETHER_LOCAL_PARENT_PID ?? process.ppid);
setInterval(() => {
  if (process.ppid !== parent) process.kill(process.pid, "SIGTERM");
}, 1000).unref();
