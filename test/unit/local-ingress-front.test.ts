/**
 * The local ingress front over real TCP: new connections go round robin over the live
 * instances, bytes pass both ways, a removed instance's connections are cut, an instance
 * that refuses is skipped, and with none left a connection is closed rather than held.
 */
import net from "node:net";
import { type IngressFront, startIngressFront } from "../../local/ingress-front";
import { freePort } from "../../local/ports";
import { createLogger } from "../../shared/logger";

/** A stand-in instance: greets with its name, then echoes. */
async function startInstance(name: string): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.write(name);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address() as net.AddressInfo;
  return {
    port: address.port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

interface Client {
  readonly socket: net.Socket;
  /** Resolves with everything received once this many bytes arrived. */
  read(bytes: number): Promise<string>;
  readonly closed: Promise<void>;
}

function dial(port: number): Client {
  const socket = net.connect(port, "127.0.0.1");
  let received = "";
  const waiters: Array<() => void> = [];
  socket.on("data", (data: Buffer) => {
    received += data.toString();
    for (const wake of waiters.splice(0)) wake();
  });
  socket.on("error", () => undefined);
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  const read = async (bytes: number): Promise<string> => {
    while (received.length < bytes) {
      if (socket.destroyed) throw new Error(`closed after ${JSON.stringify(received)}`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        socket.once("close", resolve);
      });
    }
    return received;
  };
  return { socket, read, closed };
}

describe("the local ingress front", () => {
  const logger = createLogger({ level: "silent" });
  let front: IngressFront;
  const instances: Array<{ close: () => Promise<void> }> = [];
  const clients: Client[] = [];
  const open = (): Client => {
    const client = dial(front.port);
    clients.push(client);
    return client;
  };

  beforeEach(async () => {
    front = await startIngressFront({ host: "127.0.0.1", port: 0, logger });
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.socket.destroy();
    await front.close();
    for (const instance of instances.splice(0)) await instance.close();
  });

  it("spreads new connections round robin and pipes bytes both ways", async () => {
    const a = await startInstance("A");
    const b = await startInstance("B");
    instances.push(a, b);
    front.add({ id: 1, host: "127.0.0.1", port: a.port });
    front.add({ id: 2, host: "127.0.0.1", port: b.port });
    const greetings: string[] = [];
    for (let i = 0; i < 4; i++) greetings.push(await open().read(1));
    expect(greetings).toEqual(["A", "B", "A", "B"]);

    const client = open();
    await client.read(1);
    client.socket.write("hello");
    expect(await client.read(6)).toBe("Ahello");
    expect(front.connections()).toEqual(
      new Map([
        [1, 3],
        [2, 2],
      ]),
    );
  });

  it("cuts the connections of a removed instance and routes new ones to the others", async () => {
    const a = await startInstance("A");
    const b = await startInstance("B");
    instances.push(a, b);
    front.add({ id: 1, host: "127.0.0.1", port: a.port });
    front.add({ id: 2, host: "127.0.0.1", port: b.port });
    const onA = open();
    expect(await onA.read(1)).toBe("A");
    const onB = open();
    expect(await onB.read(1)).toBe("B");

    front.remove(1);
    await onA.closed;
    expect(onB.socket.destroyed).toBe(false);
    expect(await open().read(1)).toBe("B");
    expect(await open().read(1)).toBe("B");
  });

  it("skips an instance that refuses, and closes a connection when none is left", async () => {
    const b = await startInstance("B");
    instances.push(b);
    front.add({ id: 1, host: "127.0.0.1", port: await freePort() }); // nothing listens there
    front.add({ id: 2, host: "127.0.0.1", port: b.port });
    expect(await open().read(1)).toBe("B");
    expect(await open().read(1)).toBe("B");

    front.remove(2);
    front.remove(1);
    const orphan = open();
    await orphan.closed;
    await expect(orphan.read(1)).rejects.toThrow(/closed/);
  });
});
