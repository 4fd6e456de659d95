/**
 * `GET /v1/conversations` against the Firestore emulator: the caller's own conversations
 * of this environment only, newest first, paged by an opaque cursor that neither repeats
 * nor skips; and the CORS headers a browser console needs.
 */
import { Timestamp } from "@google-cloud/firestore";
import { startApi } from "../../functions/api/server";
import { forComponent, type RunningService } from "../../functions/runtime";
import { signAccessToken } from "../../shared/auth";
import { conversationRef } from "../../shared/firestore-schema";
import { type SeedConversation, seedConversation as seedChunkedConversation } from "../support/extract-conversation";
import { createTestEnvironment, type TestEnvironment } from "../support/test-environment";
import {
  createWorkerTestRuntime,
  seedConversation,
  uniqueConversationId,
  type WorkerTestRuntime,
} from "../support/workers-runtime";

interface ListBody {
  conversations: Array<{ id: string; status: string; started_at: string | null; duration_ms: number }>;
  next_cursor: string | null;
}

describe("GET /v1/conversations", () => {
  let env: TestEnvironment;
  let otherEnv: TestEnvironment;
  let worker: WorkerTestRuntime;
  let otherWorker: WorkerTestRuntime;
  let api: RunningService;
  let otherApi: RunningService;
  let alice: string;
  const aliceIds: string[] = []; // oldest first
  let bobId: string;
  let otherEnvId: string;

  const list = async (query: string, token = alice, base = api.url) => {
    const response = await fetch(`${base}/v1/conversations${query}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: response.status, body: (await response.json()) as ListBody & { error?: { code: string } } };
  };

  const seed = async (runtime: WorkerTestRuntime["runtime"], userId: string, prefix: string, createdMs: number) => {
    const id = uniqueConversationId(prefix);
    await seedConversation(runtime, {
      id,
      userId,
      codec: "pcm16",
      sampleRate: 16000,
      chunkSize: 32000,
      durablePosition: 64000,
    });
    await conversationRef(runtime.clients.firestore, id).update({ created_at: Timestamp.fromMillis(createdMs) });
    return id;
  };

  beforeAll(async () => {
    [env, otherEnv] = await Promise.all([createTestEnvironment("lst"), createTestEnvironment("lso")]);
    worker = createWorkerTestRuntime(env);
    otherWorker = createWorkerTestRuntime(otherEnv);
    api = await startApi(forComponent(worker.runtime, "api"), { host: "127.0.0.1", port: 0 });
    otherApi = await startApi(
      forComponent(otherWorker.runtime, "api"),
      { host: "127.0.0.1", port: 0 },
      { allowOrigin: (origin) => origin === "https://console.example" },
    );
    alice = await signAccessToken(worker.tokenSecret, "alice");
    const base = Date.UTC(2031, 0, 1);
    // Five of alice's, two of them created in the same millisecond.
    for (const [i, offset] of [0, 1000, 2000, 2000, 3000].entries()) {
      aliceIds.push(await seed(worker.runtime, "alice", `a${i}`, base + offset));
    }
    bobId = await seed(worker.runtime, "bob", "bob", base + 5000);
    otherEnvId = await seed(otherWorker.runtime, "alice", "oth", base + 6000);
  });

  afterAll(async () => {
    await Promise.all([api?.close(), otherApi?.close()]);
    await Promise.all([worker?.close(), otherWorker?.close()]);
  });

  it("lists only the caller's conversations of this environment, newest first, page by page", async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const { status, body } = await list(`?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      expect(status).toBe(200);
      expect(body.conversations.length).toBeLessThanOrEqual(2);
      seen.push(...body.conversations.map((c) => c.id));
      cursor = body.next_cursor;
      pages += 1;
    } while (cursor !== null && pages < 10);
    expect(pages).toBe(3);
    const sameMillisecond = [aliceIds[2], aliceIds[3]].sort().reverse();
    expect(seen).toEqual([aliceIds[4], ...sameMillisecond, aliceIds[1], aliceIds[0]]);
    expect(seen).not.toContain(bobId);
    expect(seen).not.toContain(otherEnvId);
  });

  it("describes each conversation as PROTOCOL.md section 3 does", async () => {
    const { body } = await list("?limit=1");
    expect(body.conversations[0]).toEqual({
      id: aliceIds[4],
      status: "in_progress",
      started_at: new Date(Date.UTC(2031, 0, 1) + 3000).toISOString(),
      duration_ms: 2000, // 64,000 bytes of 16 kHz pcm16
    });
    expect(typeof body.next_cursor).toBe("string");
  });

  it("gives an Opus conversation the duration its packets play, not 20 ms a packet", async () => {
    // 40 ms packets (SILK narrowband, 40 ms: TOC configuration 2, one frame), 5 to a chunk.
    const packet = Buffer.from([2 << 3, 0x55, 0xaa, 0x55]);
    const carol = await signAccessToken(worker.tokenSecret, "carol");
    const seedOpus = async (prefix: string, createdMs: number, extra: Partial<SeedConversation>) => {
      const conversationId = uniqueConversationId(prefix);
      await seedChunkedConversation(worker.runtime, {
        conversationId,
        userId: "carol",
        codec: "opus",
        sampleRate: 16000,
        chunkSize: 5,
        audio: Array.from({ length: 12 }, () => packet),
        sessions: [{ id: "s1", firstChunk: 0 }],
        segments: [],
        ...extra,
      });
      const ref = conversationRef(worker.runtime.clients.firestore, conversationId);
      await ref.update({ created_at: Timestamp.fromMillis(createdMs) });
      return conversationId;
    };
    const stored = await seedOpus("opus-all", Date.UTC(2031, 0, 2), {});
    // Chunk 2 (the last 2 packets) not stored yet: counted at the measured 40 ms a packet.
    const pending = await seedOpus("opus-part", Date.UTC(2031, 0, 3), { status: "in_progress", omitChunks: [2] });

    const { status, body } = await list("", carol);
    expect(status).toBe(200);
    expect(body.conversations.map((c) => [c.id, c.duration_ms])).toEqual([
      [pending, 480],
      [stored, 480],
    ]);
  });

  it("refuses a bad limit or cursor, and a missing token", async () => {
    expect((await list("?limit=0")).status).toBe(400);
    expect((await list("?limit=101")).status).toBe(400);
    expect((await list("?cursor=bm9wZQ")).status).toBe(400);
    const anonymous = await fetch(`${api.url}/v1/conversations`);
    expect(anonymous.status).toBe(401);
  });

  it("answers browsers on loopback origins (or the deployment's) with CORS headers, preflight included", async () => {
    const origin = "http://127.0.0.1:9999";
    const preflight = await fetch(`${api.url}/v1/conversations`, {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": "GET", "access-control-request-headers": "authorization" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe(origin);
    expect(preflight.headers.get("access-control-allow-headers")).toContain("authorization");
    const response = await fetch(`${api.url}/v1/conversations`, {
      headers: { origin, authorization: `Bearer ${alice}` },
    });
    expect(response.headers.get("access-control-allow-origin")).toBe(origin);
    const foreign = await fetch(`${api.url}/healthz`, { headers: { origin: "https://example.com" } });
    expect(foreign.headers.get("access-control-allow-origin")).toBeNull();
    // A deployment's own policy replaces the loopback default.
    const strict = await fetch(`${otherApi.url}/healthz`, { headers: { origin } });
    expect(strict.headers.get("access-control-allow-origin")).toBeNull();
    const named = await fetch(`${otherApi.url}/healthz`, { headers: { origin: "https://console.example" } });
    expect(named.headers.get("access-control-allow-origin")).toBe("https://console.example");
  });
});
