/**
 * The HTTP API as a listening server: the local stack, the tests and Cloud Run (main.ts)
 * all run this one server.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { requestPath } from "../../shared/logger";
import type { EnvironmentRuntime, RunningService } from "../runtime";
import { type ApiOptions, createApiHandler } from "./router";

export async function startApi(
  runtime: EnvironmentRuntime,
  listen: { host: string; port: number },
  options: ApiOptions = {},
): Promise<RunningService> {
  const handler = createApiHandler(runtime, options);
  const server = http.createServer((req, res) => {
    // The handler answers every error itself; this only guards against a bug in it.
    handler(req, res).catch((error: unknown) => {
      runtime.logger.error({ err: error, path: requestPath(req.url) }, "API handler crashed");
      res.destroy();
    });
  });
  // A request Node's HTTP parser refuses (a target without a leading '/', a malformed
  // header) never reaches the handler: answer it with the contract's JSON error too.
  server.on("clientError", (error: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket) => {
    if (!socket.writable || error.code === "ECONNRESET") {
      socket.destroy();
      return;
    }
    const body = JSON.stringify({ error: { code: "bad_request", message: "the request is not valid HTTP" } });
    // A response to HEAD has no body (its length is still announced).
    const head = error.rawPacket?.subarray(0, 5).toString("latin1") === "HEAD ";
    socket.end(
      `HTTP/1.1 400 Bad Request\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${head ? "" : body}`,
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${listen.host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive sockets would hold close() open until they time out.
        server.closeAllConnections();
      }),
  };
}
