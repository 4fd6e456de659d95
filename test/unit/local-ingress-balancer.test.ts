/**
 * The local ingress balancer over real TCP and real instance processes: new connections are
 * handed round robin to the live instances over IPC and served there (bytes both ways), an
 * instance's connections die with its process, a dead instance is skipped, and with none
 * left a connection is closed rather than held.
 */
import { type ChildProcess, spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { childTarget, type IngressBalancer, startIngressBalancer } from "../../local/ingress-balancer";
import { createLogger } from "../../shared/logger";
import { until } from "../support/poll";

/** A stand-in instance process (test/support/balancer-instance.ts): greets with its name, then echoes. */
async function startInstance(name: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", path.join(__dirname, "../support/balancer-instance.ts"), name],
    {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    },
  );
  await new Promise<void>((resolve, reject) => {
    child.once("message", () => resolve());
    child.once("exit", (code) => reject(new Error(`instance ${name} exited with ${code}`)));
  });
  return child;
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
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

describe("the local ingress balancer", () => {
  const logger = createLogger({ level: "silent" });
  let balancer: IngressBalancer;
  const instances: ChildProcess[] = [];
  const clients: Client[] = [];
  /** Waits (at most 5 s) until the balancer counts `expected` connections per instance. */
  const handedReaches = async (expected: ReadonlyMap<number, number>): Promise<void> => {
    await until(
      "the balancer's counts",
      () => JSON.stringify([...balancer.handed()]) === JSON.stringify([...expected]),
      5_000,
    ).catch(() => undefined);
    expect(balancer.handed()).toEqual(expected);
  };
  const open = (): Client => {
    const client = dial(balancer.port);
    clients.push(client);
    return client;
  };

  beforeEach(async () => {
    balancer = await startIngressBalancer({ host: "127.0.0.1", port: 0, logger });
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.socket.destroy();
    await balancer.close();
    for (const instance of instances.splice(0)) await kill(instance);
  });

  it("hands new connections round robin to the instances, which serve them", async () => {
    const a = await startInstance("A");
    const b = await startInstance("B");
    instances.push(a, b);
    balancer.add(childTarget(1, a));
    balancer.add(childTarget(2, b));
    const greetings: string[] = [];
    for (let i = 0; i < 4; i++) greetings.push(await open().read(1));
    expect(greetings).toEqual(["A", "B", "A", "B"]);

    const client = open();
    await client.read(1);
    client.socket.write("hello");
    expect(await client.read(6)).toBe("Ahello");
    // An instance confirms a connection over IPC, which may arrive after its greeting.
    await handedReaches(
      new Map([
        [1, 3],
        [2, 2],
      ]),
    );
  });

  it("loses an instance's connections with its process, and routes new ones to the others", async () => {
    const a = await startInstance("A");
    const b = await startInstance("B");
    instances.push(a, b);
    balancer.add(childTarget(1, a));
    balancer.add(childTarget(2, b));
    const onA = open();
    expect(await onA.read(1)).toBe("A");
    const onB = open();
    expect(await onB.read(1)).toBe("B");

    await kill(a); // as a crashed Cloud Run instance
    balancer.remove(1);
    await onA.closed;
    expect(onB.socket.destroyed).toBe(false);
    expect(await open().read(1)).toBe("B");
    expect(await open().read(1)).toBe("B");
  });

  it("closes the connections an instance died holding before it confirmed them, queued ones included", async () => {
    const a = await startInstance("A");
    instances.push(a);
    balancer.add(childTarget(1, a));
    a.kill("SIGSTOP"); // it can no longer acknowledge a handed connection
    const first = open(); // handed, unacknowledged: Node keeps the balancer's copy open
    const second = open(); // queued behind the first's acknowledgement
    await until("both connections at the balancer, unconfirmed", () => balancer.unconfirmed() === 2);
    await kill(a); // SIGKILL before it ever acknowledged
    await Promise.all([first.closed, second.closed]);
    expect(first.socket.destroyed && second.socket.destroyed).toBe(true);
  });

  it("skips an instance that died before it was removed, and closes a connection when none is left", async () => {
    const a = await startInstance("A");
    const b = await startInstance("B");
    instances.push(a, b);
    balancer.add(childTarget(1, a));
    balancer.add(childTarget(2, b));
    await kill(a); // still listed: its exit has not been handled yet
    expect(await open().read(1)).toBe("B");
    expect(await open().read(1)).toBe("B");
    await handedReaches(new Map([[2, 2]]));

    balancer.remove(2);
    balancer.remove(1);
    const orphan = open();
    await orphan.closed;
    await expect(orphan.read(1)).rejects.toThrow(/closed/);
  });
});
