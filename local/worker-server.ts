/**
 * One worker function served by the functions framework's own server (what
 * `functions-framework --target` and Cloud Functions run), with the two things Cloud Run
 * adds in front of it deployed and the emulator does not (local/push-delivery.ts):
 * - a push that outlives the ack deadline (the function timeout) has its connection cut,
 *   so the emulator pushes the message again;
 * - only pushes to the worker's own topic path are served; any other path is answered 404
 *   and left to Pub/Sub's retry, so a stale push subscription of another stack that once
 *   had this port can never feed this worker its messages.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { getTestServer } from "@google-cloud/functions-framework/testing";

/** How one worker's pushes went: what `npm run chaos` prints while it waits on a backlog. */
export interface PushStats {
  readonly path: string;
  /** Pushes being handled now, and the most at once. */
  inFlight: number;
  maxInFlight: number;
  /** Pushes answered, by status (2xx: acked; cut: cut at the deadline or by the emulator). */
  readonly outcomes: Map<string, number>;
  /** Pushes that took at least 1 s, 10 s, 60 s. */
  readonly slow: { s1: number; s10: number; s60: number };
  /** The start times of the pushes in flight (ms), to see how long the oldest has run. */
  readonly started: Set<number>;
}

const allStats: PushStats[] = [];

/** The push statistics of every worker served in this process. */
export function pushStats(): readonly PushStats[] {
  return allStats;
}

function newStats(path: string): PushStats {
  const stats: PushStats = {
    path,
    inFlight: 0,
    maxInFlight: 0,
    outcomes: new Map(),
    slow: { s1: 0, s10: 0, s60: 0 },
    started: new Set(),
  };
  allStats.push(stats);
  return stats;
}

function track(stats: PushStats, res: http.ServerResponse): void {
  const at = performance.now();
  stats.inFlight += 1;
  stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
  stats.started.add(at);
  res.once("close", () => {
    stats.inFlight -= 1;
    stats.started.delete(at);
    const ms = performance.now() - at;
    const outcome = res.writableFinished ? String(res.statusCode) : "cut";
    stats.outcomes.set(outcome, (stats.outcomes.get(outcome) ?? 0) + 1);
    if (ms >= 1000) stats.slow.s1 += 1;
    if (ms >= 10_000) stats.slow.s10 += 1;
    if (ms >= 60_000) stats.slow.s60 += 1;
  });
}

/** One worker's push statistics as JSON (`GET` on its push path). */
export interface PushStatsView {
  in_flight: number;
  /** How long the oldest push in flight has run, ms (0 when none). */
  oldest_ms: number;
  /** Pushes answered, by status (2xx: acked; 5xx or cut: delivered again). */
  outcomes: Record<string, number>;
}

export function pushStatsView(stats: PushStats): PushStatsView {
  const oldest = Math.min(...stats.started);
  return {
    in_flight: stats.inFlight,
    oldest_ms: Number.isFinite(oldest) ? Math.round(performance.now() - oldest) : 0,
    outcomes: Object.fromEntries(stats.outcomes),
  };
}

export interface ServedWorker {
  /** `http://host:port`, without the push path. */
  readonly url: string;
  readonly port: number;
  /** Stops listening; resolves once the pushes in progress have been answered or cut. */
  close(): Promise<void>;
}

/** Serves the framework function registered as `target` on host:port (0: any free port). */
export async function serveRegisteredFunction(options: {
  readonly target: string;
  /** The push path, `/projects/P/topics/T` (shared/pipeline.ts `pushPath`). */
  readonly path: string;
  readonly ackDeadlineSeconds: number;
  readonly host: string;
  readonly port: number;
}): Promise<ServedWorker> {
  // The framework's server, as `functions-framework --target` builds it: its request
  // listener is the framework's express app (body parsing, push-to-CloudEvent conversion).
  const framework = getTestServer(options.target);
  const [app] = framework.listeners("request") as http.RequestListener[];
  if (app === undefined) throw new Error(`the functions framework gave no request handler for ${options.target}`);
  const timeoutMs = options.ackDeadlineSeconds * 1000;
  const stats = newStats(options.path);
  const server = http.createServer((req, res) => {
    if (req.method === "GET" && req.url?.split("?")[0] === options.path) {
      // The console's overview: what this worker is handling now (local only; never deployed).
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(pushStatsView(stats)));
      return;
    }
    if (req.method !== "POST" || req.url?.split("?")[0] !== options.path) {
      res.statusCode = 404;
      res.end();
      return;
    }
    track(stats, res);
    const cut = setTimeout(() => req.socket.destroy(), timeoutMs);
    res.once("close", () => clearTimeout(cut));
    app(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
