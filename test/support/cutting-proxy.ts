/**
 * A TCP proxy whose faults a test triggers by hand, at the moment it chooses: reset a
 * connection after some bytes, reset every live one, refuse new ones for a while.
 * scripts/chaos-proxy.ts cuts at random from a seeded PRNG, for runs that replay a seed;
 * a test that asserts what one cut did needs the cut to land where it says.
 */
import net from "node:net";
import { reset } from "../../scripts/chaos-proxy";

export interface CuttingProxy {
  /** `127.0.0.1:PORT`: where to connect instead of the target. */
  readonly hostPort: string;
  /** Connections accepted so far, refused ones included. */
  connections(): number;
  /** Bytes forwarded from clients to the target so far. */
  clientBytes(): number;
  /** Resets the next connection accepted after `bytes` of its client's bytes (mid-frame). */
  cutNextAfter(bytes: number): void;
  /** Resets every live connection, both sides, as a network failure would. */
  cutAll(): void;
  /** Every live connection goes silent both ways, with no RST or FIN (a NAT that forgot it); new ones work. */
  stallAll(): void;
  /** New connections are reset (`reset`) or closed cleanly (`end`) at once, until `heal()`. */
  refuse(how: "reset" | "end"): void;
  heal(): void;
  close(): Promise<void>;
}

export async function startCuttingProxy(target: { host: string; port: number }): Promise<CuttingProxy> {
  const live = new Set<{ client: net.Socket; upstream: net.Socket; stalled: boolean }>();
  const sockets = new Set<net.Socket>();
  let connections = 0;
  let clientBytes = 0;
  let nextCutAfter: number | undefined;
  let refusing: "reset" | "end" | undefined;

  const server = net.createServer((client) => {
    connections += 1;
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => {});
    if (refusing === "reset") return reset(client);
    if (refusing === "end") return void client.end();
    const upstream = net.connect(target);
    const pair = { client, upstream, stalled: false };
    live.add(pair);
    const cutAfter = nextCutAfter ?? Infinity;
    nextCutAfter = undefined;
    let forwarded = 0;
    const cut = (): void => {
      reset(client);
      reset(upstream);
    };
    client.on("data", (data: Buffer) => {
      if (pair.stalled) return;
      const take = Math.min(data.length, cutAfter - forwarded);
      forwarded += take;
      clientBytes += take;
      upstream.write(take === data.length ? data : data.subarray(0, take));
      if (forwarded >= cutAfter) setImmediate(cut);
    });
    upstream.on("data", (data: Buffer) => {
      if (!pair.stalled) client.write(data);
    });
    const end = (): void => {
      live.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    upstream.on("error", end);
    client.on("error", end);
    client.on("close", end);
    upstream.on("close", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address() as net.AddressInfo;

  return {
    hostPort: `127.0.0.1:${address.port}`,
    connections: () => connections,
    clientBytes: () => clientBytes,
    cutNextAfter: (bytes) => {
      nextCutAfter = bytes;
    },
    cutAll: () => {
      for (const pair of live) {
        reset(pair.client);
        reset(pair.upstream);
      }
    },
    stallAll: () => {
      for (const pair of live) pair.stalled = true;
    },
    refuse: (how) => {
      refusing = how;
    },
    heal: () => {
      refusing = undefined;
    },
    close: async () => {
      for (const pair of live) pair.upstream.destroy();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
