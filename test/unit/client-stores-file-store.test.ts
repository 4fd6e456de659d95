/**
 * The SDK's file store against a scripted server: the cap (`write` waits, then resumes as
 * acks arrive; or fails naming the cap), resume after a restart on the pinned URL, and
 * reconciliation of a conversation the server finalized meanwhile (4410 details).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect, fileStore, resumeStored, StoreFullError, type TetherSession } from "../../client";
import { FakeServer } from "../support/client-fake-server";

const URL_A = "wss://ingress.staging.example/v1/listen";
const fast = { initialDelayMs: 1, maxDelayMs: 2, jitter: 0 };
const audio = (n: number, seed = 0) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) % 256);
/** Lets pending promise callbacks and I/O callbacks run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "tether-client-store-"));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

async function started(
  server: FakeServer,
  options: Partial<Parameters<typeof connect>[0]> = {},
): Promise<TetherSession> {
  const connecting = connect({
    url: URL_A,
    token: "tok",
    codec: "pcm16",
    sampleRate: 16000,
    backoff: fast,
    createSocket: server.factory,
    storage: fileStore(dir, { fsyncEveryMs: 0 }),
    ...options,
  });
  (await server.opened(1)).ready({ chunk_size: 1000, resume_token: "token-1", conversation_id: "conv-store-1" });
  return await connecting;
}

describe("the SDK's file store", () => {
  it("keeps its logs to their owner: files 0600, the directories it creates 0700, after compaction too", async () => {
    // Under a umask of 0 the modes come from the store alone, not from the usual 022.
    const umask = process.umask(0);
    try {
      const store = path.join(dir, "app", "tether");
      const server = new FakeServer();
      const session = await started(server, { storage: fileStore(store, { fsyncEveryMs: 0 }) });
      const mode = (p: string) => fs.statSync(p).mode & 0o777;
      const log = () => path.join(store, fs.readdirSync(store).find((n) => n.endsWith(".tlog")) ?? "none");
      expect(mode(path.join(dir, "app"))).toBe(0o700);
      expect(mode(store)).toBe(0o700);
      expect(mode(log())).toBe(0o600);
      // Enough acknowledged audio to make the log rewrite itself (a new file renamed over it).
      const before = fs.statSync(log()).ino;
      for (let i = 0; i < 12; i += 1) await session.write(audio(100_000, i));
      server.last.ack(1_200_000);
      await settle();
      expect(fs.statSync(log()).ino).not.toBe(before);
      expect(mode(log())).toBe(0o600);
    } finally {
      process.umask(umask);
    }
  });

  it("at its cap, write waits and resumes as acks arrive; nothing is dropped", async () => {
    const server = new FakeServer();
    const session = await started(server, { storage: fileStore(dir, { maxBytes: 4000, fsyncEveryMs: 0 }) });
    for (let i = 0; i < 4; i += 1) await session.write(audio(1000, i));
    expect(session.stats.bufferedBytes).toBe(4000);
    let fifth = false;
    const writing = session.write(audio(1000, 4)).then(() => {
      fifth = true;
    });
    await settle();
    expect(fifth).toBe(false); // full: waits
    expect(server.last.audio().length).toBe(4000);
    server.last.ack(1000);
    await writing;
    expect(fifth).toBe(true);
    await settle();
    expect(server.last.audio().length).toBe(5000);
    const [stored] = await fileStore(dir).list();
    expect(stored?.acked).toBe(1000);
    const held = Buffer.concat((stored?.audio ?? []).map((a) => Buffer.from(a.data)));
    expect(held.equals(Buffer.concat([1, 2, 3, 4].map((i) => Buffer.from(audio(1000, i)))))).toBe(true);
  });

  it("with whenFull: fail, a write at the cap fails with an error naming the cap", async () => {
    const server = new FakeServer();
    const session = await started(server, {
      storage: fileStore(dir, { maxBytes: 3000 }),
      whenFull: "fail",
    });
    for (let i = 0; i < 3; i += 1) await session.write(audio(1000, i));
    const error = await session.write(audio(1000)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreFullError);
    expect((error as StoreFullError).capacityBytes).toBe(3000);
    expect((error as Error).message).toContain("3000 bytes");
    expect(session.stats.written).toBe(3000); // the refused write was not taken
  });

  it("after a restart, resumes on the pinned URL at ready.position and re-sends what the server lacks", async () => {
    const first = new FakeServer();
    const session = await started(first);
    await session.write(audio(1500, 1));
    session.sendSegments([{ id: "s1", start: 0, end: 1 }]);
    await session.write(audio(1500, 2));
    first.last.ack(1000);
    // The app dies here: nothing closes the session or the store.

    const second = new FakeServer();
    const resuming = resumeStored(fileStore(dir), { token: "tok-2", backoff: fast, createSocket: second.factory });
    const socket = await second.opened(1);
    expect(socket.url.startsWith(`${URL_A}?`)).toBe(true); // pinned, not a new lookup
    expect(socket.query.get("resume_token")).toBe("token-1");
    socket.ready({ position: 1200, chunk_size: 1000, resume_token: "token-2", conversation_id: "conv-store-1" });
    const [result] = await resuming;
    expect(result?.kind).toBe("resumed");
    if (result?.kind !== "resumed") throw new Error("not resumed");
    expect(result.position).toBe(1200);
    const all = Buffer.concat([Buffer.from(audio(1500, 1)), Buffer.from(audio(1500, 2))]);
    expect(socket.audio().equals(all.subarray(1200))).toBe(true);
    expect(socket.texts()).toEqual([{ type: "segments", segments: [{ id: "s1", start: 0, end: 1 }] }]);

    await result.session.write(audio(500, 3));
    const finalizing = result.session.finalize();
    socket.ack(3500);
    socket.message({ type: "finalized", conversation_id: "conv-store-1", position: 3500 });
    expect(await finalizing).toEqual({ conversationId: "conv-store-1", position: 3500 });
    expect(await fileStore(dir).list()).toEqual([]);
  });

  it("a conversation finalized meanwhile: what was stored is reported exactly, what was not is returned", async () => {
    const first = new FakeServer();
    const session = await started(first);
    await session.write(audio(2000, 5));
    session.sendSegments([{ id: "late", start: 1, end: 2 }]);
    first.last.ack(1000);

    const second = new FakeServer();
    const resuming = resumeStored(fileStore(dir), { token: "tok", backoff: fast, createSocket: second.factory });
    (await second.opened(1)).refuse(4410, {
      code: "conversation_finalized",
      final_position: 1500,
      durable_position: 1500,
      finalize_reason: "idle_timeout",
    });
    const [result] = await resuming;
    expect(result?.kind).toBe("failed");
    if (result?.kind !== "failed") throw new Error("not failed");
    expect(result.error.code).toBe("conversation_finalized");
    expect(result.error.details.durablePosition).toBe(1500);
    expect(result.error.details.finalizeReason).toBe("idle_timeout");
    const notStored = result.error.details.notStored;
    expect(notStored?.audio?.from).toBe(1500);
    expect(notStored?.audio?.to).toBe(2000);
    const bytes = Buffer.concat((notStored?.audio?.bytes ?? []).map((b) => Buffer.from(b)));
    expect(bytes.equals(Buffer.from(audio(2000, 5)).subarray(1500))).toBe(true);
    expect(notStored?.messages).toEqual([{ type: "segments", segments: [{ id: "late", start: 1, end: 2 }] }]);
    // Nothing is dropped silently: the record stays until the app discards it.
    expect(await fileStore(dir).list()).toHaveLength(1);
    await result.discard();
    expect(await fileStore(dir).list()).toEqual([]);
  });

  it("a conversation the server finalized with everything stored is reported finalized and removed", async () => {
    const first = new FakeServer();
    const session = await started(first);
    await session.write(audio(1000, 6));
    first.last.ack(1000);
    const second = new FakeServer();
    const resuming = resumeStored(fileStore(dir), { token: "tok", backoff: fast, createSocket: second.factory });
    (await second.opened(1)).refuse(4410, {
      code: "conversation_finalized",
      final_position: 1000,
      durable_position: 1000,
      finalize_reason: "idle_timeout",
    });
    expect(await resuming).toEqual([
      { kind: "finalized", key: expect.any(String), conversationId: "conv-store-1", position: 1000 },
    ]);
    expect(await fileStore(dir).list()).toEqual([]);
  });

  it("ignores a record cut short by a kill", async () => {
    const server = new FakeServer();
    const session = await started(server);
    await session.write(audio(800, 7));
    const [file] = fs.readdirSync(dir);
    if (file === undefined) throw new Error("no log file");
    fs.appendFileSync(path.join(dir, file), Buffer.from([2, 200, 0, 0, 0, 1, 2, 3])); // an audio record's first bytes
    const [stored] = await fileStore(dir).list();
    expect(
      Buffer.concat((stored?.audio ?? []).map((a) => Buffer.from(a.data))).equals(Buffer.from(audio(800, 7))),
    ).toBe(true);
  });
});
