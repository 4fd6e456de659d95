/**
 * The local stand-in for Cloud Run's front end: one TCP port (an environment's `ingress_url`)
 * that spreads new connections over the live ingress instances, round robin. It does not
 * carry their bytes: each accepted connection is handed whole to an instance process over
 * its IPC channel (as Node's cluster module does), so a client's frames and acks go straight
 * between the client and the instance, and the balancer's own process (shared with the workers
 * in `npm start`) is never on their path. When an instance dies, the connections it held die
 * with it, so their clients resume on another instance, as they would when a Cloud Run
 * instance crashes.
 */
import type { ChildProcess } from "node:child_process";
import net from "node:net";
import { z } from "zod";
import type { Logger } from "../shared/logger";

/** An instance that new connections can be handed to. */
export interface BalancerTarget {
  readonly id: number;
  /**
   * Hands over a new, paused connection. True once the instance serves it, or once the balancer
   * cut it because the instance went away unconfirmed (the client reconnects); false when the
   * instance could not be sent it (it is gone), so another may take it.
   */
  accept(client: net.Socket): Promise<boolean>;
}

export interface IngressBalancer {
  readonly port: number;
  /** Adds an instance: new connections may go to it from now on. */
  add(target: BalancerTarget): void;
  /** Removes an instance (it exited): no new connection goes to it. */
  remove(id: number): void;
  /** Connections handed to each instance so far (for tests). */
  handed(): ReadonlyMap<number, number>;
  /** Connections accepted and not yet confirmed by an instance (for tests). */
  unconfirmed(): number;
  close(): Promise<void>;
}

/** The message that comes with a handed connection, and the instance's answer once it serves it. */
const HANDOFF = "ingress-connection";
const TAKEN = "ingress-connection-taken";
/** An instance tells its parent it is draining (SIGTERM): no new connection should reach it. */
const DRAINING = "ingress-draining";
const handoffSchema = z.object({ tether: z.literal(HANDOFF), id: z.number().int() });
const takenSchema = z.object({ tether: z.literal(TAKEN), id: z.number().int() });
const drainingSchema = z.object({ tether: z.literal(DRAINING) });

/** In an instance process: tells the parent this instance drains (once). */
export function announceDraining(): void {
  if (process.connected) process.send?.({ tether: DRAINING });
}

/** In the parent: calls `draining` when `child` announces that it drains. */
export function onDraining(child: ChildProcess, draining: () => void): void {
  let told = false;
  child.on("message", (message: unknown) => {
    if (told || !drainingSchema.safeParse(message).success) return;
    told = true;
    draining();
  });
}

/**
 * How long an instance may take to confirm a handed connection before the balancer cuts it
 * (the client reconnects). An instance confirms in well under a second; this only bounds a
 * hung one.
 */
const HANDOFF_CONFIRM_MS = 10_000;

/**
 * A target that hands connections to `child`, whose entry calls `receiveHandedConnections`.
 *
 * Left to itself, Node closes the balancer's copy of a handed socket only when the child
 * acknowledges the handle, and queues later handles behind that acknowledgement: a child
 * that dies before acknowledging (SIGKILL at the wrong moment) leaves the balancer holding the
 * socket open, paused, and the queued ones unsent, and their clients wait forever. So the
 * balancer keeps its copy (`keepOpen`) until the child says it serves the connection, then
 * closes it (the connection lives on in the child). When the child goes away first, the
 * balancer closes every connection it has not confirmed, and those clients reconnect (to
 * another instance), as after any crash.
 */
export function childTarget(id: number, child: ChildProcess): BalancerTarget {
  let nextId = 0;
  /** Unconfirmed handoffs: each settles once, `true` closing the balancer's copy of the socket. */
  const pending = new Map<number, (handed: boolean) => void>();
  // Gone before confirming: the connection may have reached it, so it is cut, not re-routed.
  const cutPending = (): void => {
    for (const settle of [...pending.values()]) settle(true);
  };
  child.on("message", (message: unknown) => {
    const taken = takenSchema.safeParse(message);
    if (taken.success) pending.get(taken.data.id)?.(true); // the child serves the connection now
  });
  child.once("disconnect", cutPending);
  child.once("exit", cutPending);
  return {
    id,
    accept: (client) =>
      new Promise<boolean>((resolve) => {
        if (!child.connected) {
          resolve(false);
          return;
        }
        const handoff = nextId++;
        const settle = (handed: boolean): void => {
          if (!pending.delete(handoff)) return;
          clearTimeout(timer);
          // Handed: the balancer's copy goes (the connection lives on in the child, or is cut).
          // Not handed: the connection is still only the balancer's, for another instance.
          if (handed) client.destroy();
          resolve(handed);
        };
        const timer = setTimeout(() => settle(true), HANDOFF_CONFIRM_MS);
        timer.unref();
        pending.set(handoff, settle);
        try {
          child.send({ tether: HANDOFF, id: handoff }, client, { keepOpen: true }, (error) => {
            if (error) settle(false);
          });
        } catch {
          settle(false); // the channel closed under us
        }
      }),
  };
}

/**
 * In an instance process: every connection the balancer hands over is served by `server`, as if
 * it had accepted it on its own port, and confirmed to the balancer.
 */
export function receiveHandedConnections(server: Promise<net.Server>): void {
  process.on("message", (message: unknown, handle: unknown) => {
    const handoff = handoffSchema.safeParse(message);
    if (!handoff.success || !(handle instanceof net.Socket)) return;
    void server.then(
      (accepting) => {
        accepting.emit("connection", handle);
        handle.resume();
        process.send?.({ tether: TAKEN, id: handoff.data.id });
      },
      () => handle.destroy(),
    );
  });
}

/** Round robin: the target at `cursor`, wrapping around the live ones. */
export function nextTarget<T extends { readonly id: number }>(targets: readonly T[], cursor: number): T | undefined {
  if (targets.length === 0) return undefined;
  return targets[cursor % targets.length];
}

export async function startIngressBalancer(options: {
  host: string;
  port: number;
  logger: Logger;
}): Promise<IngressBalancer> {
  const { host, logger } = options;
  const targets: BalancerTarget[] = [];
  const handed = new Map<number, number>();
  const waiting = new Set<net.Socket>();
  let cursor = 0;

  /** Hands `client` to the next instance; one that cannot take it is skipped, each tried once. */
  const route = async (client: net.Socket): Promise<void> => {
    for (let attemptsLeft = targets.length; attemptsLeft > 0 && !client.destroyed; attemptsLeft -= 1) {
      const target = nextTarget(targets, cursor++);
      if (target === undefined) break;
      if (await target.accept(client)) {
        handed.set(target.id, (handed.get(target.id) ?? 0) + 1);
        return;
      }
      logger.debug({ conversation_id: null, instance: target.id }, "ingress balancer: instance gone, trying the next");
    }
    if (client.destroyed) return;
    logger.warn(
      { conversation_id: null, instances: targets.length },
      "ingress balancer: no live instance, connection cut",
    );
    client.destroy();
  };

  const server = net.createServer({ pauseOnConnect: true }, (client) => {
    waiting.add(client);
    client.on("error", (error) =>
      logger.debug({ err: error, conversation_id: null }, "ingress balancer: client error"),
    );
    void route(client).finally(() => waiting.delete(client));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;

  return {
    port,
    add(target) {
      targets.push(target);
    },
    remove(id) {
      const index = targets.findIndex((t) => t.id === id);
      if (index >= 0) targets.splice(index, 1);
    },
    handed() {
      return new Map(handed);
    },
    unconfirmed() {
      return waiting.size;
    },
    async close() {
      // Stops listening at once. Not awaited: once connections were handed to instances,
      // Node's close callback waits for those processes to report them closed, and an
      // instance that exited never does. Connections not yet handed over are cut here.
      server.close();
      for (const client of waiting) client.destroy();
    },
  };
}
