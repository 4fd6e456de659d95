/**
 * One local ingress instance as its own process: exactly what Cloud Run runs
 * (`functions/ingress/main.ts`, settings from the environment variables), plus two local
 * rules: it serves the connections the environment's front hands it, and when the
 * `npm start` that spawned it (`TETHER_LOCAL_PARENT_PID`) is gone, it drains and exits as on
 * SIGTERM, so that an abruptly killed stack leaves no instance holding a port.
 */
import { listening } from "../functions/ingress/main";
import { receiveHandedConnections } from "./ingress-front";

// The environment's front (ingress-front.ts) hands new connections over the IPC channel.
receiveHandedConnections(listening);

const parent = Number(process.env.TETHER_LOCAL_PARENT_PID ?? process.ppid);
setInterval(() => {
  if (process.ppid !== parent) process.kill(process.pid, "SIGTERM");
}, 1000).unref();
