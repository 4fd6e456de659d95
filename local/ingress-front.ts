/**
 * The local stand-in for Cloud Run's front end: one TCP port (an environment's `ingress_url`)
 * that spreads new connections over the live ingress instances, round robin, and pipes the
 * bytes both ways (the WebSocket upgrade included, it is only bytes here). When an instance
 * goes away, the connections it held are cut, so their clients resume on another instance,
 * as they would when a Cloud Run instance crashes.
 */
import net from "node:net";
import type { Logger } from "../shared/logger";

/** Where an instance listens. */
export interface FrontTarget {
  readonly id: number;
  readonly host: string;
  readonly port: number;
}

export interface IngressFront {
  readonly port: number;
  /** Adds an instance: new connections may go to it from now on. */
  add(target: FrontTarget): void;
  /** Removes an instance and cuts every connection it carried. */
  remove(id: number): void;
  /** Open client connections per instance id (for tests and the chaos run). */
  connections(): ReadonlyMap<number, number>;
  close(): Promise<void>;
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
  const carried = new Map<number, Set<net.Socket>>();
  const clients = new Set<net.Socket>();
  let cursor = 0;

  /** Connects to an instance; on a refused connect tries the others once each before giving up. */
  const route = (client: net.Socket, attemptsLeft: number): void => {
    const target = nextTarget(targets, cursor++);
    if (!target || attemptsLeft <= 0) {
      logger.warn(
        { conversation_id: null, instances: targets.length },
        "ingress front: no live instance, connection cut",
      );
      client.destroy();
      return;
    }
    const upstream = net.connect(target.port, target.host);
    upstream.setNoDelay(true);
    let connected = false;
    upstream.once("connect", () => {
      connected = true;
      if (client.destroyed || !targets.includes(target)) {
        upstream.destroy();
        client.destroy();
        return;
      }
      const held = carried.get(target.id) ?? new Set<net.Socket>();
      carried.set(target.id, held);
      held.add(client);
      client.once("close", () => held.delete(client));
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
    upstream.on("error", (error) => {
      if (!connected && !client.destroyed) {
        logger.debug({ err: error, conversation_id: null, port: target.port }, "ingress front: instance refused, next");
        route(client, attemptsLeft - 1);
        return;
      }
      client.destroy();
    });
    upstream.once("close", () => {
      if (connected) client.destroy();
    });
    client.once("close", () => upstream.destroy());
  };

  const server = net.createServer({ pauseOnConnect: true }, (client) => {
    clients.add(client);
    client.setNoDelay(true);
    client.on("error", (error) => logger.debug({ err: error, conversation_id: null }, "ingress front: client error"));
    client.once("close", () => clients.delete(client));
    route(client, targets.length);
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
      for (const client of carried.get(id) ?? []) client.destroy();
      carried.delete(id);
    },
    connections() {
      return new Map([...carried].map(([id, held]) => [id, held.size]));
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const client of clients) client.destroy();
      await closed;
    },
  };
}
