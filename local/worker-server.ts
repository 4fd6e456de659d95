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
  const server = http.createServer((req, res) => {
    if (req.method !== "POST" || req.url?.split("?")[0] !== options.path) {
      res.statusCode = 404;
      res.end();
      return;
    }
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
