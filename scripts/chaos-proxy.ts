/**
 * A TCP fault proxy for `npm run chaos`: listens on a free local port and pipes each
 * connection to the target (an environment's ingress), cutting connections at random
 * mid-stream: after a random number of client bytes, so the cut lands inside a WebSocket
 * frame and inside a chunk, as a real network failure would. Both directions are destroyed
 * (a reset, not a clean close). The cut points come from the run's PRNG.
 */
import net from "node:net";
import { integerBetween, type Random } from "./chaos-plan";

export interface FaultProxy {
  /** `ws://127.0.0.1:PORT/...`: the target URL with the proxy's host and port. */
  readonly url: string;
  /** Connections cut so far. */
  readonly cuts: () => number;
  close(): Promise<void>;
}

export interface FaultProxyOptions {
  /** The URL to proxy (its host and port are the target). */
  readonly targetUrl: string;
  /** Probability that a connection is cut at all. */
  readonly cutRate: number;
  /** A cut connection is cut after 1 to this many client bytes. */
  readonly maxBytesBeforeCut: number;
  readonly random: Random;
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.targetUrl);
  const sockets = new Set<net.Socket>();
  let cuts = 0;
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: target.hostname, port: Number(target.port) });
    sockets.add(client);
    sockets.add(upstream);
    const cutAfter =
      options.random() < options.cutRate ? integerBetween(options.random, 1, options.maxBytesBeforeCut) : Infinity;
    let forwarded = 0;
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("data", (data: Buffer) => {
      if (forwarded + data.length >= cutAfter) {
        // Forward the bytes before the cut point, then drop both sides mid-frame.
        upstream.write(data.subarray(0, cutAfter - forwarded));
        forwarded = cutAfter;
        cuts += 1;
        setImmediate(cut);
        return;
      }
      forwarded += data.length;
      upstream.write(data);
    });
    upstream.on("data", (data: Buffer) => client.write(data));
    client.on("error", cut);
    upstream.on("error", cut);
    client.on("close", () => {
      upstream.destroy();
      sockets.delete(client);
    });
    upstream.on("close", () => {
      client.destroy();
      sockets.delete(upstream);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the fault proxy has no port");
  const url = new URL(options.targetUrl);
  url.hostname = "127.0.0.1";
  url.port = String(address.port);
  return {
    url: url.toString(),
    cuts: () => cuts,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
