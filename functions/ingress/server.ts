/**
 * The WebSocket ingress (Cloud Run): `GET /v1/listen` upgrades to a socket
 * (socket-session.ts), `GET /healthz` answers the platform's probes, and `close()` drains:
 * no new sockets, `goaway` to each socket (drain.ts) so its client moves while this one
 * still acknowledges, then, for the sockets that did not move, every complete chunk
 * received made durable and acknowledged, and 1012.
 * While it listens, the orphan sweeper (orphan-sweeper.ts) finalizes conversations that
 * instances which died left behind.
 *
 * Building is apart from listening, as in Cloud Run's service template: `createIngress`
 * builds the HTTP server and everything behind it without opening a port or starting a
 * timer; `listen` binds the port and starts the sweeper and the ping rounds. main.ts (what
 * Cloud Run runs) does both; tests may build without listening.
 */
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { Timestamp } from "@google-cloud/firestore";
import { WebSocketServer } from "ws";
import { hs256Verifier, type TokenVerifier } from "../../shared/auth";
import { requireTokenKeys } from "../../shared/config";
import { LISTEN_PATH, LISTEN_SUBPROTOCOL } from "../../shared/protocol";
import type { EnvironmentRuntime, RunningService } from "../runtime";
import { ConversationRegistry } from "./conversation-registry";
import { ConversationStore } from "./conversation-store";
import { DEFAULT_LIMITS, type IngressLimits, memoryBoundPerSocket, orphanSweepIntervalMs } from "./limits";
import { OrphanSweeper } from "./orphan-sweeper";
import { PublishBudget } from "./publish-budget";
import { IngressPublisher } from "./publisher";
import { IngressSocket } from "./socket";
import { SocketSession } from "./socket-session";
import { UserLimitsGate } from "./user-limits";

export interface IngressOptions {
  /** Verifies client access tokens; default: HS256 with the environment's token key. */
  readonly verifier?: TokenVerifier;
  readonly limits?: Partial<IngressLimits>;
  /** Replaces the publisher (tests hold publishes back to create backpressure deterministically). */
  readonly publisher?: (runtime: EnvironmentRuntime) => IngressPublisher;
  /** Replaces the conversation store (tests make one of its writes fail, or wait). */
  readonly store?: (runtime: EnvironmentRuntime) => ConversationStore;
}

export interface RunningIngress extends RunningService {
  /** Open sockets (for tests and the bench). */
  readonly connections: () => number;
}

/** The ingress built but not yet listening. */
export interface Ingress {
  /** The HTTP server (requests and upgrades); not bound to a port until `listen`. */
  readonly server: http.Server;
  /** Open sockets. */
  readonly connections: () => number;
  /** Binds `at` (port 0: any free port), starts the orphan sweeper and the ping rounds. */
  listen(at: { host: string; port: number }): Promise<RunningIngress>;
  /** Drains (see the file's comment); safe to call more than once, listening or not. */
  close(): Promise<void>;
}

function refuseUpgrade(socket: Socket, status: number, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

export function createIngress(runtime: EnvironmentRuntime, options: IngressOptions = {}): Ingress {
  const { settings, resources, clients, logger } = runtime;
  const environment = resources.environment;
  const limits: IngressLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const tokenKeys = requireTokenKeys(settings);
  const verifier = options.verifier ?? hs256Verifier(tokenKeys);
  const userLimits = new UserLimitsGate(clients.firestore, {
    limits: settings.userLimits,
    leaseTtlMs: limits.socketLeaseTtlMs,
    logger,
  });
  const store =
    options.store?.(runtime) ??
    new ConversationStore(clients.firestore, environment, () => Timestamp.now(), {
      beforeCreate: (intent) => userLimits.admitConversation(intent.userId, intent.conversationId),
    });
  const publisher = options.publisher?.(runtime) ?? new IngressPublisher(clients.pubsub, resources);
  const budget = new PublishBudget(limits.maxInFlightBytes);
  const registry = new ConversationRegistry({
    store,
    publisher,
    logger,
    environment,
    idleTimeoutMs: settings.idleTimeoutSeconds * 1000,
  });
  const sweepIntervalMs = orphanSweepIntervalMs(limits, settings.idleTimeoutSeconds * 1000);
  const sweeper = new OrphanSweeper({
    store,
    registry,
    publisher,
    logger,
    rules: {
      environment,
      idleTimeoutMs: settings.idleTimeoutSeconds * 1000,
      graceMs: limits.orphanGraceMs,
    },
    intervalMs: sweepIntervalMs,
    batchSize: limits.orphanSweepBatch,
  });
  const sockets = new Set<SocketSession>();
  let draining = false;

  const wss = new WebSocketServer({
    noServer: true,
    WebSocket: IngressSocket,
    maxPayload: limits.maxMessageBytes,
    perMessageDeflate: false,
    clientTracking: false,
    // A browser offers `tether.v1` and `tether.bearer.<jwt>`: answer `tether.v1`, never echo the credential.
    handleProtocols: (offered) => (offered.has(LISTEN_SUBPROTOCOL) ? LISTEN_SUBPROTOCOL : false),
  });

  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://ingress.invalid").pathname;
    if (path === "/healthz") {
      res.writeHead(draining ? 503 : 200, { "content-type": "application/json" });
      res.end(JSON.stringify({ status: draining ? "draining" : "ok", environment, connections: sockets.size }));
      return;
    }
    if (path === LISTEN_PATH) {
      res.writeHead(426, { "content-type": "application/json", upgrade: "websocket" });
      res.end(
        JSON.stringify({ error: { code: "upgrade_required", message: `${LISTEN_PATH} is a WebSocket endpoint` } }),
      );
      return;
    }
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { code: "not_found", message: `no route for ${path}` } }));
  });

  server.on("upgrade", (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on("error", (error) => logger.debug({ err: error }, "upgrade socket error"));
    const path = new URL(req.url ?? "/", "http://ingress.invalid").pathname;
    if (path !== LISTEN_PATH) {
      logger.warn({ path, conversation_id: null }, "upgrade refused: unknown path");
      refuseUpgrade(socket, 404, "Not Found");
      return;
    }
    if (draining) {
      logger.info({ conversation_id: null }, "upgrade refused: draining");
      refuseUpgrade(socket, 503, "Service Unavailable");
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const session = new SocketSession(ws as IngressSocket, req, {
        environment,
        handshake: {
          environment,
          tokenKeys,
          verifier,
          chunkSeconds: settings.chunkSeconds,
        },
        registry,
        store,
        publisher,
        budget,
        limits,
        userLimits,
        maxSocketMs: settings.maxSocketSeconds * 1000,
        logger,
        onClosed: (closed) => sockets.delete(closed),
      });
      sockets.add(session);
      if (sockets.size > limits.maxConnections) {
        (ws as IngressSocket).closeWithError(
          "overloaded",
          "this ingress instance has too many open sockets: resume after a delay",
        );
        logger.warn({ conversation_id: null, connections: sockets.size }, "socket refused: connection limit reached");
        return;
      }
      void session.start();
    });
  });

  let pinger: NodeJS.Timeout | undefined;
  let closing: Promise<void> | undefined;

  const listen = async (at: { host: string; port: number }): Promise<RunningIngress> => {
    // A fresh instance takes sockets handed over from a draining one: its channels are open first.
    await Promise.all([publisher.warmUp(), store.warmUp()]).catch((error: unknown) =>
      logger.warn({ err: error, conversation_id: null }, "warming up the Pub/Sub and Firestore channels failed"),
    );
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(at.port, at.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    // Sockets whose peer vanished without a close never answer: find them by ping.
    pinger = setInterval(() => {
      for (const session of sockets) {
        if (!session.alive) session.terminate("it did not answer a ping");
        else session.ping();
      }
    }, limits.pingIntervalMs);
    pinger.unref();
    sweeper.start();
    userLimits.start();
    const port = (server.address() as AddressInfo).port;
    logger.info(
      {
        port,
        conversation_id: null,
        chunk_seconds: settings.chunkSeconds,
        idle_timeout_seconds: settings.idleTimeoutSeconds,
        orphan_sweep_interval_ms: sweepIntervalMs,
        memory_bound_per_socket_bytes_pcm16_16k: memoryBoundPerSocket(limits, "pcm16", 16000, settings.chunkSeconds),
        limits,
        user_limits: settings.userLimits,
      },
      "ingress listening",
    );
    return { url: `ws://${at.host}:${port}${LISTEN_PATH}`, port, connections, close: closeOnce };
  };

  const close = async (): Promise<void> => {
    draining = true;
    clearInterval(pinger);
    const sweepStopped = sweeper.stop();
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    const warned = [...sockets];
    logger.info(
      { conversation_id: null, sockets: warned.length, close_in_ms: limits.drainGoawayMs },
      "draining: goaway to every socket, then what did not move is made durable and closed with 1012",
    );
    for (const session of warned) session.goaway("draining", limits.drainGoawayMs);
    await Promise.race([
      Promise.all(warned.map((session) => session.whenClosed())),
      new Promise((resolve) => setTimeout(resolve, limits.drainGoawayMs).unref()),
    ]);
    const open = [...sockets];
    const drained = Promise.all(open.map((session) => session.drain()));
    await Promise.race([drained, new Promise((resolve) => setTimeout(resolve, limits.drainTimeoutMs).unref())]);
    // Sockets whose clients do not finish the close handshake are cut after a grace period.
    const closedAll = Promise.all(open.map((session) => session.whenClosed()));
    const grace = setTimeout(() => {
      for (const session of sockets) session.terminate("its client did not finish the close handshake during shutdown");
    }, 2_000);
    await closedAll;
    clearTimeout(grace);
    await publisher
      .close()
      .catch((error: unknown) => logger.error({ err: error, conversation_id: null }, "flush on shutdown failed"));
    await sweepStopped;
    store.close();
    await userLimits.stop();
    registry.releaseAll();
    wss.close();
    await stopped;
    logger.info({ conversation_id: null }, "ingress stopped");
  };

  const closeOnce = (): Promise<void> => {
    closing ??= close();
    return closing;
  };
  const connections = (): number => sockets.size;

  return { server, connections, listen, close: closeOnce };
}
