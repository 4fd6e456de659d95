/**
 * The HTTP API. Placeholder until the API lands: it serves the health endpoint only, so
 * the local stack can already report its URL.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { EnvironmentRuntime, RunningService } from "../runtime";

export async function startApi(
  runtime: EnvironmentRuntime,
  listen: { host: string; port: number },
): Promise<RunningService> {
  const server = http.createServer((req, res) => {
    if (req.url === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ status: "ok", environment: runtime.resources.environment }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${listen.host}:${port}`,
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
