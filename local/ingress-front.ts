/**
 * The local stand-in for Cloud Run's front end: one TCP port (an environment's `ingress_url`)
 * that spreads new connections over the live ingress instances, round robin. It does not
 * carry their bytes: each accepted connection is handed whole to an instance process over
 * its IPC channel (as Node's cluster module does), so a client's frames and acks go straight
 * between the client and the instance, and the front's own process (shared with the workers
 * in `npm start`) is never on their path. When an instance dies, the connections it held die
 * with it, so their clients resume on another instance, as they would when a Cloud Run
 * instance crashes.
 */
import type { ChildProcess } from "node:child_process";
import net from "node:net";
import type { Logger } from "../shared/logger";

/** An instance that new connections can be handed to. */
export interface FrontTarget {
  readonly id: number;
  /** Hands over a new, paused connection; false when the instance could not take it (it is gone). */
  accept(client: net.Socket): Promise<boolean>;
}

export interface IngressFront {
  readonly port: number;
  /** Adds an instance: new connections may go to it from now on. */
  add(target: FrontTarget): void;
  /** Removes an instance (it exited): no new connection goes to it. */
  remove(id: number): void;
  /** Connections handed to each instance so far (for tests and the chaos run). */
  handed(): ReadonlyMap<number, number>;
  close(): Promise<void>;
}

/** The message that comes with a handed connection. */
const HANDOFF = { tether: "ingress-connection" } as const;

/** A target that hands connections to `child`, whose entry calls `receiveHandedConnections`. */
export function childTarget(id: number, child: ChildProcess): FrontTarget {
  return {
    id,
    accept: (client) =>
      new Promise<boolean>((resolve) => {
        if (!child.connected) {
          resolve(false);
          return;
        }
        try {
          // The front's copy of the connection is closed once the child holds it.
          child.send(HANDOFF, client, (error) => resolve(error === null || error === undefined));
        } catch {
          resolve(false); // the channel closed under us
        }
      }),
  };
}

/**
 * In an instance process: every connection the front hands over is served by `server`, as if
 * it had accepted it on its own port.
 */
export function receiveHandedConnections(server: Promise<net.Server>): void {
  process.on("message", (message: unknown, handle: unknown) => {
    const handoff = typeof message === "object" && message !== null && "tether" in message;
    if (!handoff || (message as { tether: unknown }).tether !== HANDOFF.tether) return;
    if (!(handle instanceof net.Socket)) return;
    void server.then(
      (accepting) => {
        accepting.emit("connection", handle);
        handle.resume();
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

export async function startIngressFront(options: {
  host: string;
  port: number;
  logger: Logger;
}): Promise<IngressFront> {
  const { host, logger } = options;
  const targets: FrontTarget[] = [];
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
      logger.debug({ conversation_id: null, instance: target.id }, "ingress front: instance gone, trying the next");
    }
    if (client.destroyed) return;
    logger.warn(
      { conversation_id: null, instances: targets.length },
      "ingress front: no live instance, connection cut",
    );
    client.destroy();
  };

  const server = net.createServer({ pauseOnConnect: true }, (client) => {
    waiting.add(client);
    client.on("error", (error) => logger.debug({ err: error, conversation_id: null }, "ingress front: client error"));
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
    async close() {
      // Stops listening at once. Not awaited: once connections were handed to instances,
      // Node's close callback waits for those processes to report them closed, and an
      // instance that exited never does. Connections not yet handed over are cut here.
      server.close();
      for (const client of waiting) client.destroy();
    },
  };
}
