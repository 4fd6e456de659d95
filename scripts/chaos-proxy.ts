/**
 * A TCP fault proxy for `npm run chaos`: listens on a free local port and pipes each
 * connection to a target (an environment's ingress, or an emulator in front of the
 * workers' clients), cutting connections as a real network failure would. Both directions
 * are reset, not closed cleanly. Two ways to cut, each optional, every choice from the
 * run's PRNG:
 * - by bytes: a connection is cut after a random number of client bytes, so the cut lands
 *   inside a WebSocket frame and inside a chunk (the clients' sockets to the ingress);
 * - on a clock: every few seconds (a random interval) one live connection, chosen at
 *   random, is cut whatever it carries: long-lived gRPC (HTTP/2) channels and keep-alive
 *   HTTP connections to the emulators, with requests in flight.
 */
import net from "node:net";
import { integerBetween, type Random } from "../local/seeded-random";

export interface FaultProxy {
  /** `127.0.0.1:PORT`: where to connect instead of the target. */
  readonly hostPort: string;
  /** Connections cut so far. */
  readonly cuts: () => number;
  /** Stops cutting: the network heals, the connections it did not cut carry on. */
  heal(): void;
  close(): Promise<void>;
}

export interface FaultProxyOptions {
  readonly target: { readonly host: string; readonly port: number };
  readonly random: Random;
  /** Cut a connection with probability `rate`, after 1 to `maxBytes` client bytes. */
  readonly byBytes?: { readonly rate: number; readonly maxBytes: number };
  /** Cut one live connection every `minMs` to `maxMs`. */
  readonly onClock?: { readonly minMs: number; readonly maxMs: number };
}

/** `host:port` (an emulator's endpoint) or a URL (`ws://…`, `http://…`) as the proxy's target. */
export function targetOf(endpoint: string): { host: string; port: number } {
  const url = new URL(/^[a-z]+:\/\//.test(endpoint) ? endpoint : `tcp://${endpoint}`);
  const port = Number(url.port);
  if (!Number.isInteger(port) || port <= 0) throw new Error(`no port in ${endpoint}`);
  return { host: url.hostname, port };
}

/** `url` with its host and port replaced by the proxy's. */
export function throughProxy(url: string, proxy: FaultProxy): string {
  const proxied = new URL(url);
  proxied.host = proxy.hostPort;
  return proxied.toString();
}

/** Resets a socket (RST, as a network failure would), or destroys it if it cannot. */
export function reset(socket: net.Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

interface Pair {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
  cut: () => void;
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const { random } = options;
  const pairs: Pair[] = [];
  let cuts = 0;
  let healed = false;
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: options.target.host, port: options.target.port });
    let done = false;
    const pair: Pair = {
      client,
      upstream,
      cut: () => {
        if (done || healed) return;
        done = true;
        cuts += 1;
        reset(client);
        reset(upstream);
      },
    };
    pairs.push(pair);
    const bytes = options.byBytes;
    const cutAfter =
      bytes !== undefined && random() < bytes.rate ? integerBetween(random, 1, bytes.maxBytes) : Infinity;
    let forwarded = 0;
    client.on("data", (data: Buffer) => {
      if (forwarded + data.length >= cutAfter) {
        // Forward the bytes before the cut point, then drop both sides mid-frame.
        upstream.write(data.subarray(0, cutAfter - forwarded));
        forwarded = cutAfter;
        setImmediate(pair.cut);
        return;
      }
      forwarded += data.length;
      upstream.write(data);
    });
    upstream.on("data", (data: Buffer) => client.write(data));
    const end = () => {
      done = true;
      client.destroy();
      upstream.destroy();
      const index = pairs.indexOf(pair);
      if (index >= 0) pairs.splice(index, 1);
    };
    client.on("error", end);
    upstream.on("error", end);
    client.on("close", end);
    upstream.on("close", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the fault proxy has no port");

  let timer: NodeJS.Timeout | undefined;
  const clock = options.onClock;
  if (clock !== undefined) {
    const next = (): void => {
      timer = setTimeout(
        () => {
          if (healed) return;
          if (pairs.length > 0) pairs[integerBetween(random, 0, pairs.length - 1)]?.cut();
          next();
        },
        integerBetween(random, clock.minMs, clock.maxMs),
      );
    };
    next();
  }

  return {
    hostPort: `127.0.0.1:${address.port}`,
    cuts: () => cuts,
    heal: () => {
      healed = true;
      clearTimeout(timer);
    },
    close: async () => {
      healed = true;
      clearTimeout(timer);
      for (const pair of [...pairs]) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
