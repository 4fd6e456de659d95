/** Port checks for the local stack: fail with a sentence, not a stack trace. */
import net from "node:net";

export class PortBusyError extends Error {
  override name = "PortBusyError";
}

/** Resolves when `port` can be bound on `host`; throws `PortBusyError` naming what wanted it. */
export async function assertPortFree(host: string, port: number, purpose: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = net.createServer();
    server.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EADDRINUSE" || error.code === "EACCES") {
        reject(
          new PortBusyError(
            `Port ${port} on ${host} (${purpose}) is already in use: is another \`npm start\` running? ` +
              "Stop it, or choose other ports (see `npm start -- --help`).",
          ),
        );
      } else {
        reject(error);
      }
    });
    server.listen(port, host, () => server.close(() => resolve()));
  });
}

/** A port the OS says is free right now (for tests and `--base-port 0`). */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
