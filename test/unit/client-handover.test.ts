/**
 * Make before break in the SDK (client/handover.ts) against a scripted server: on `goaway`
 * the session opens a new socket at once, the old one still delivers acks, its 4001 is
 * expected, and the audio continues from the new `ready.position`, nothing lost or doubled.
 */
import { connect, type RetiredEvent, type TetherError, type TetherSession } from "../../client";
import { FakeServer } from "../support/client-fake-server";

const URL_A = "wss://ingress.staging.example/v1/listen";
const fast = { initialDelayMs: 1, maxDelayMs: 2, jitter: 0 };
const audio = (n: number, seed = 0) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) % 256);

async function started(server: FakeServer): Promise<TetherSession> {
  const connecting = connect({
    url: URL_A,
    token: "tok",
    codec: "pcm16",
    sampleRate: 16000,
    backoff: fast,
    createSocket: server.factory,
  });
  (await server.opened(1)).ready();
  return await connecting;
}

describe("TetherSession handover after goaway", () => {
  it("resumes on a new socket at once while the old one still acks; its 4001 is expected", async () => {
    const server = new FakeServer();
    const session = await started(server);
    const errors: TetherError[] = [];
    const retired: RetiredEvent[] = [];
    session.on("error", (e) => errors.push(e));
    session.on("retired", (e) => retired.push(e));
    const sent = audio(5000);
    await session.write(sent.subarray(0, 3000));
    const first = server.last;
    first.message({ type: "goaway", reason: "max_socket_age", close_in_ms: 5000 });
    const second = await server.opened(2); // at once: no backoff, the old socket still open
    expect(second.query.get("resume_token")).toBe("resume.token.staging");
    expect(first.closedWith).toBeUndefined();
    await session.write(sent.subarray(3000, 4000)); // the old socket carries it until the new one is ready
    expect(first.audio().length).toBe(4000);
    expect(second.audio().length).toBe(0);
    first.ack(2000); // the old socket's chunk became durable meanwhile
    expect(session.stats.acked).toBe(2000);
    second.ready({ position: 2000 });
    first.drop(4001); // the new socket took the conversation over
    await session.write(sent.subarray(4000));
    expect(second.audio().equals(Buffer.from(sent.subarray(2000)))).toBe(true);
    second.ack(5000);
    expect(session.stats).toMatchObject({ acked: 5000, handovers: 1, reconnects: 0 });
    expect(retired).toEqual([{ closeCode: 4001, reason: "" }]);
    expect(errors).toEqual([]);
  });

  it("an ack on the old socket is bounded by what was sent on it", async () => {
    const server = new FakeServer();
    const session = await started(server);
    const errors: TetherError[] = [];
    session.on("error", (e) => errors.push(e));
    await session.write(audio(1000));
    const first = server.last;
    first.message({ type: "goaway", reason: "draining", close_in_ms: 4000 });
    const second = await server.opened(2);
    await session.write(audio(1000, 1));
    second.ready({ position: 1000 });
    await session.write(audio(1000, 2));
    first.ack(2000); // what was sent on it
    expect(errors).toEqual([]);
    first.ack(2500);
    expect(errors.map((e) => e.code)).toEqual(["protocol_violation"]);
  });

  it("when the old socket closes before the new one is ready, the new one carries on", async () => {
    const server = new FakeServer();
    const session = await started(server);
    await session.write(audio(3000));
    const first = server.last;
    first.message({ type: "goaway", reason: "draining", close_in_ms: 4000 });
    const second = await server.opened(2);
    first.drop(1012); // its time ran out: everything received was made durable first
    second.ready({ position: 3000 });
    expect(server.sockets).toHaveLength(2);
    expect(session.stats).toMatchObject({ acked: 3000, handovers: 1, reconnects: 0 });
  });

  it("retries the next socket while the warned one still works", async () => {
    const server = new FakeServer();
    const session = await started(server);
    await session.write(audio(1000));
    const first = server.last;
    first.message({ type: "goaway", reason: "draining", close_in_ms: 4000 });
    (await server.opened(2)).drop(1006); // e.g. the front had no other instance yet
    await session.write(audio(1000, 1));
    const third = await server.opened(3);
    third.ready({ position: 1000 });
    expect(third.audio().length).toBe(1000);
    expect(session.stats).toMatchObject({ handovers: 1, reconnects: 0 });
  });

  it("when the old socket closes while the new one is still being opened, that one carries on", async () => {
    const server = new FakeServer();
    let tokenFetched: (() => void) | undefined;
    const connecting = connect({
      url: URL_A,
      // The first token at once; the next one only when the test says (a slow token service).
      token: () =>
        server.sockets.length === 0 ? "tok" : new Promise<string>((resolve) => (tokenFetched = () => resolve("tok"))),
      codec: "pcm16",
      sampleRate: 16000,
      backoff: fast,
      createSocket: server.factory,
    });
    (await server.opened(1)).ready();
    const session = await connecting;
    const reconnecting: unknown[] = [];
    session.on("reconnecting", (e) => reconnecting.push(e));
    await session.write(audio(1000));
    server.last.message({ type: "goaway", reason: "draining", close_in_ms: 4000 });
    server.last.drop(1012); // before the next socket exists
    expect(server.sockets).toHaveLength(1);
    tokenFetched?.();
    (await server.opened(2)).ready({ position: 1000 });
    expect(session.stats).toMatchObject({ handovers: 1, reconnects: 0 });
    expect(reconnecting).toEqual([]);
  });

  it("once the old socket closed, losing the new one before its ready is a reconnect", async () => {
    const server = new FakeServer();
    const session = await started(server);
    const reconnecting: Array<{ closeCode: number }> = [];
    session.on("reconnecting", (e) => reconnecting.push(e));
    await session.write(audio(1000));
    const first = server.last;
    first.message({ type: "goaway", reason: "draining", close_in_ms: 4000 });
    const second = await server.opened(2);
    first.drop(1012);
    second.drop(1006); // the only socket left
    expect(reconnecting.map((e) => e.closeCode)).toEqual([1006]);
    (await server.opened(3)).ready({ position: 1000 });
    expect(session.stats).toMatchObject({ handovers: 0, reconnects: 1 });
  });

  it("a finalize under way stays on the warned socket", async () => {
    const server = new FakeServer();
    const session = await started(server);
    await session.write(audio(1000));
    const finalized = session.finalize();
    const first = server.last;
    first.message({ type: "goaway", reason: "draining", close_in_ms: 4000 });
    first.message({ type: "finalized", conversation_id: "conv-0001", position: 1000 });
    await expect(finalized).resolves.toEqual({ conversationId: "conv-0001", position: 1000 });
    expect(server.sockets).toHaveLength(1);
  });
});
