/**
 * One local ingress instance as its own process: exactly what Cloud Run runs
 * (`functions/ingress/main.ts`, settings from the environment variables), plus two local
 * rules: it serves the connections the environment's balancer hands it, it tells the balancer when
 * SIGTERM makes it drain (the balancer then routes past it and starts its replacement, as Cloud
 * Run does), and when the
 * `npm start` that spawned it (`TETHER_LOCAL_PARENT_PID`) is gone, it drains and exits as on
 * SIGTERM, so that an abruptly killed stack leaves no instance holding a port.
 */
import { listening } from "../functions/ingress/main";
import { announceDraining, receiveHandedConnections } from "./ingress-balancer";

// The environment's balancer (ingress-balancer.ts) hands new connections over the IPC channel.
receiveHandedConnections(listening);
// SIGTERM drains this instance (main.ts): the balancer stops sending it connections at once.
process.prependListener("SIGTERM", announceDraining); // before main.ts sends its goaways

const parent = Number(process.env.TETHER_LOCAL_PARENT_PID ?? process.ppid);
setInterval(() => {
  if (process.ppid !== parent) process.kill(process.pid, "SIGTERM");
}, 1000).unref();
