/**
 * The SDK's session logic against a scripted server: URL pinning, the environment banner,
 * resume from `ready.position`, stop-and-report on 4409, finalize.
 */
import { connect, TetherError, type TetherSession } from "../../client";
import { FakeServer, type FakeSocket } from "../support/client-fake-server";

const URL_A = "wss://ingress.staging.example/v1/listen";
const fast = { initialDelayMs: 1, maxDelayMs: 2, jitter: 0 };
const audio = (n: number, seed = 0) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) % 256);

/**
 * For tests that show nothing happens: the clock is fake (advancing with real time, so the
 * scripted server still runs), and this fires every timer due in the next ten minutes.
 */
async function afterEveryTimer(): Promise<void> {
  await jest.advanceTimersByTimeAsync(10 * 60_000);
}

function connecting(server: FakeServer, options: Partial<Parameters<typeof connect>[0]> = {}): Promise<TetherSession> {
  return connect({
    url: URL_A,
    token: "tok",
    codec: "pcm16",
    sampleRate: 16000,
    backoff: fast,
    createSocket: server.factory,
    ...options,
  });
}

async function started(
  server: FakeServer,
  options: Partial<Parameters<typeof connect>[0]> = {},
): Promise<TetherSession> {
  const session = connecting(server, options);
  (await server.opened(1)).ready();
  return await session;
}

describe("TetherSession", () => {
  beforeEach(() => jest.useFakeTimers({ advanceTimers: true }));
  afterEach(() => jest.useRealTimers());

  it("resolves the URL once and pins it for every reconnect, with the resume token", async () => {
    const server = new FakeServer();
    let lookups = 0;
    const session = await started(server, {
      url: () => {
        lookups += 1;
        return lookups === 1 ? URL_A : "wss://ingress.prod.example/v1/listen"; // "the current backend" changed
      },
    });
    for (let i = 2; i <= 4; i += 1) {
      server.last.drop(1006);
      (await server.opened(i)).ready({ resume_token: `resume-${i}` });
    }
    expect(lookups).toBe(1);
    expect(session.url).toBe(URL_A);
    for (const socket of server.sockets) expect(socket.url.startsWith(`${URL_A}?`)).toBe(true);
    expect(server.sockets[0]?.query.get("resume_token")).toBeNull();
    expect(server.sockets[1]?.query.get("resume_token")).toBe("resume.token.staging");
    expect(server.sockets[3]?.query.get("resume_token")).toBe("resume-3");
    expect(server.sockets[0]?.headers.authorization).toBe("Bearer tok");
    expect(session.stats.reconnects).toBe(3);
  });

  it("reports the environment the server's ready names", async () => {
    const server = new FakeServer();
    const connecting = connect({ url: URL_A, token: "tok", createSocket: server.factory });
    (await server.opened(1)).ready({ environment: "prod" });
    expect((await connecting).environment).toBe("prod");
  });

  it("re-sends from ready.position after a drop, and drops acknowledged audio", async () => {
    const server = new FakeServer();
    const session = await started(server);
    const sent = audio(5000);
    await session.write(sent.subarray(0, 2500));
    await session.write(sent.subarray(2500));
    server.last.ack(2000);
    expect(session.stats).toMatchObject({ written: 5000, sent: 5000, acked: 2000, bufferedBytes: 3000 });
    server.last.drop(1006); // mid-chunk
    const second = await server.opened(2);
    second.ready({ position: 3000 }); // the server made more durable than it had acknowledged
    expect(second.audio().equals(Buffer.from(sent.subarray(3000)))).toBe(true);
    expect(session.stats).toMatchObject({ acked: 3000, bufferedBytes: 2000 });
    await session.write(audio(100, 1));
    expect(second.audio().length).toBe(2100);
  });

  it("stops and reports on 4409: no other URL, no retry", async () => {
    const server = new FakeServer();
    const session = await started(server);
    const errors: TetherError[] = [];
    session.on("error", (e) => errors.push(e));
    server.last.drop(1006);
    (await server.opened(2)).refuse(4409, {
      code: "wrong_environment",
      environment: "prod",
      expected_environment: "staging",
    });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      code: "wrong_environment",
      details: { closeCode: 4409, expectedEnvironment: "staging", environment: "prod" },
    });
    await afterEveryTimer(); // any reconnect timer has fired
    expect(server.sockets).toHaveLength(2);
    await expect(session.write(audio(2))).rejects.toBeInstanceOf(TetherError);
    await expect(session.finalize()).rejects.toMatchObject({ code: "wrong_environment" });
  });

  it("on 4429 live_sockets resumes a conversation after a delay, but refuses a new one", async () => {
    const server = new FakeServer();
    const session = await started(server);
    server.last.drop(1006);
    const tooMany = { code: "too_many", limit: "live_sockets", value: 20 };
    (await server.opened(2)).refuse(4429, tooMany);
    (await server.opened(3)).ready({ position: 0 });
    expect(session.stats.reconnects).toBe(1);

    const fresh = new FakeServer();
    const refused = connecting(fresh);
    (await fresh.opened(1)).refuse(4429, tooMany);
    await expect(refused).rejects.toMatchObject({ code: "too_many", details: { closeCode: 4429 } });
    await afterEveryTimer();
    expect(fresh.sockets).toHaveLength(1);
  });

  it("resumes when its own lost attempt took the conversation from its newest socket (4001)", async () => {
    const server = new FakeServer();
    const session = await started(server);
    const errors: TetherError[] = [];
    session.on("error", (e) => errors.push(e));
    const sent = audio(3000);
    await session.write(sent.subarray(0, 2000));
    server.last.ack(1000);
    server.last.drop(1006);
    (await server.opened(2)).drop(1006); // lost before `ready`: the server may still be opening it
    const third = await server.opened(3);
    third.ready({ position: 1000 });
    await session.write(sent.subarray(2000));
    // The second attempt's open lands at the server after the third's: the third is superseded.
    third.refuse(4001, { code: "superseded", message: "a newer socket resumed this conversation" });
    const fourth = await server.opened(4);
    fourth.ready({ position: 1000 });
    expect(fourth.audio().equals(Buffer.from(sent.subarray(1000)))).toBe(true);
    expect(errors).toEqual([]);
    // One lost attempt explains one takeover: a second 4001 is another client's resume.
    fourth.refuse(4001, { code: "superseded", message: "a newer socket resumed this conversation" });
    expect(errors.map((e) => e.code)).toEqual(["superseded"]);
    await afterEveryTimer(); // any reconnect timer has fired
    expect(server.sockets).toHaveLength(4);
  });

  it("stops on 4001 when it lost no attempt: another client resumed the conversation", async () => {
    const server = new FakeServer();
    const session = await started(server);
    const errors: TetherError[] = [];
    session.on("error", (e) => errors.push(e));
    server.last.drop(1006);
    (await server.opened(2)).ready();
    server.last.refuse(4001, { code: "superseded", message: "a newer socket resumed this conversation" });
    expect(errors.map((e) => e.code)).toEqual(["superseded"]);
    await afterEveryTimer();
    expect(server.sockets).toHaveLength(2);
  });

  it("gives up a socket that gets no ready in time, and reconnects", async () => {
    const server = new FakeServer();
    const connecting = connect({
      url: URL_A,
      token: "tok",
      backoff: fast,
      createSocket: server.factory,
      readyTimeoutMs: 50,
    });
    const hung = await server.opened(1); // accepted, never answered
    const second = await server.opened(2);
    expect(hung.closedWith).toBe(4000);
    second.ready();
    const session = await connecting;
    expect(session.conversationId).toBe("conv-0001");
    // Once ready came, the timer is gone: the socket stays.
    await afterEveryTimer();
    expect(server.sockets.length).toBe(2);
    expect(session.error).toBeUndefined();
  });

  it("rejects connect with the terminal error of the first socket", async () => {
    const server = new FakeServer();
    const connecting = connect({ url: URL_A, token: "tok", createSocket: server.factory });
    (await server.opened(1)).refuse(4401, { code: "unauthorized" });
    await expect(connecting).rejects.toMatchObject({ code: "unauthorized", details: { closeCode: 4401 } });
  });

  it("refuses a reconnect that lands in another environment", async () => {
    const server = new FakeServer();
    const session = await started(server);
    const failed = new Promise<TetherError>((resolve) => session.on("error", resolve));
    server.last.drop(1012);
    (await server.opened(2)).ready({ environment: "prod" });
    expect((await failed).code).toBe("environment_changed");
    expect(session.environment).toBe("staging");
  });

  it("resolves finalize on `finalized`, after re-sending audio and finalize on a new socket", async () => {
    const server = new FakeServer();
    const session = await started(server);
    await session.write(audio(1500));
    const done = session.finalize();
    expect(server.last.texts()).toEqual([{ type: "finalize" }]);
    server.last.drop(1006);
    const second = await server.opened(2);
    second.ready({ position: 1000 });
    expect(second.audio().length).toBe(500);
    expect(second.texts()).toEqual([{ type: "finalize" }]);
    second.message({ type: "finalized", conversation_id: "conv-0001", position: 1500 });
    await expect(done).resolves.toEqual({ conversationId: "conv-0001", position: 1500 });
  });

  it("treats 4410 with the full final position as the lost answer to its finalize", async () => {
    const server = new FakeServer();
    const session = await started(server);
    await session.write(audio(1500));
    const done = session.finalize();
    server.last.drop(1006);
    (await server.opened(2)).refuse(4410, { code: "conversation_finalized", final_position: 1500 });
    await expect(done).resolves.toEqual({ conversationId: "conv-0001", position: 1500 });
  });

  it("never treats a deleted conversation's 4410 as finalized, even when its position covers everything", async () => {
    const server = new FakeServer();
    const session = await started(server);
    await session.write(audio(1500));
    const done = session.finalize();
    server.last.drop(1006);
    (await server.opened(2)).refuse(4410, {
      code: "conversation_finalized",
      final_position: 1500,
      durable_position: 1500,
      finalize_reason: "deleted",
    });
    await expect(done).rejects.toMatchObject({
      code: "conversation_finalized",
      details: { finalizeReason: "deleted" },
    });
  });

  it("treats 4410 as finalized when events_recorded counts its unacknowledged text messages", async () => {
    const server = new FakeServer();
    const session = await started(server);
    const first = server.last;
    await session.write(audio(1000));
    first.ack(1000);
    const segment = { id: "s1", start: 0, end: 1, text: "a", speaker: "SPEAKER_00", is_user: true, person_id: null };
    session.sendSegments([segment]);
    session.assignSpeaker("p1", ["s1"]);
    const done = session.finalize();
    // The server stored both messages and finalized; the socket dropped before `finalized` came.
    first.drop(1006);
    (await server.opened(2)).refuse(4410, {
      code: "conversation_finalized",
      final_position: 1000,
      durable_position: 1000,
      finalize_reason: "client",
      events_recorded: { [first.sessionId]: 2, "another-socket": 7 },
    });
    await expect(done).resolves.toEqual({ conversationId: "conv-0001", position: 1000 });
  });

  it("reports exactly the text messages events_recorded does not count on any socket they went out on", async () => {
    const server = new FakeServer();
    const session = await started(server);
    const first = server.last;
    const segment = (id: string) => ({
      id,
      start: 0,
      end: 1,
      text: id,
      speaker: "SPEAKER_00",
      is_user: true,
      person_id: null,
    });
    session.sendSegments([segment("a")]); // first socket's message 1
    session.sendSegments([segment("b")]); // first socket's message 2
    first.drop(1006);
    const second = await server.opened(2);
    second.ready({ position: 0 }); // both are sent again: second socket's messages 1 and 2
    session.sendSegments([segment("c")]); // second socket's message 3
    const failed = new Promise<TetherError>((resolve) => session.on("error", resolve));
    void session.finalize().catch(() => undefined);
    second.drop(1006);
    // "a" is counted on the first socket, "b" on the second; "c" on neither.
    (await server.opened(3)).refuse(4410, {
      code: "conversation_finalized",
      final_position: 0,
      durable_position: 0,
      finalize_reason: "client",
      events_recorded: { [first.sessionId]: 1, [second.sessionId]: 2 },
    });
    const error = await failed;
    expect(error.code).toBe("conversation_finalized");
    expect(error.details.notStored?.messages).toEqual([{ type: "segments", segments: [segment("c")] }]);
    expect(error.message).toMatch(/not stored: 1 text message\(s\)/);
  });

  it("re-sends text messages that no ack covered", async () => {
    const server = new FakeServer();
    const session = await started(server);
    const segment = { id: "s1", start: 0, end: 1, text: "a", speaker: "SPEAKER_00", is_user: true, person_id: null };
    session.sendSegments([segment]); // sent at position 0
    await session.write(audio(1000));
    session.assignSpeaker("p1", ["s1"]); // sent at position 1000
    server.last.ack(1000); // covers the segments, not the assignment
    server.last.drop(1006);
    const second = await server.opened(2);
    second.ready({ position: 1000 });
    expect(second.texts()).toEqual([{ type: "speaker_assigned", person_id: "p1", segment_ids: ["s1"] }]);
  });

  it("refreshes the token once when a reconnect is refused as unauthorized", async () => {
    const server = new FakeServer();
    let issued = 0;
    const session = await started(server, { token: () => `tok-${++issued}` });
    server.last.drop(1006);
    (await server.opened(2)).refuse(4401, { code: "unauthorized" });
    const third = await server.opened(3);
    expect(third.headers.authorization).toBe("Bearer tok-3");
    third.ready();
    expect(session.error).toBeUndefined();
  });

  it("waits for room in the replay buffer until an ack frees it", async () => {
    const server = new FakeServer();
    const session = await started(server, { replayBufferBytes: 4000 });
    await session.write(audio(4000));
    let written = false;
    const pending = session.write(audio(1000)).then(() => {
      written = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(written).toBe(false);
    server.last.ack(1000);
    await pending;
    expect(session.stats.written).toBe(5000);
  });

  it("refuses odd pcm16 writes and a second finalize's audio", async () => {
    const server = new FakeServer();
    const session = await started(server);
    await expect(session.write(audio(3))).rejects.toThrow(/even/);
    void session.finalize();
    await expect(session.write(audio(2))).rejects.toThrow(/finalizing/);
  });

  it("closes a session a protocol violation would corrupt", async () => {
    const server = new FakeServer();
    const session = await started(server);
    const failed = new Promise<TetherError>((resolve) => session.on("error", resolve));
    server.last.ack(10); // nothing was sent
    expect((await failed).code).toBe("protocol_violation");
    expect((server.last as FakeSocket).closedWith).toBe(1000);
  });
});
