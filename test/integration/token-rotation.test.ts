/**
 * Rotating the token-signing key while conversations stream (infra/README.md, "Rotate the
 * token-signing key"): none is refused with 4401 and the audio topic holds exactly what
 * each client sent.
 *
 * How the ingress learns the new key set, as on Cloud Run: a key set is configuration, so
 * a rotation is a new revision. Its instances start with the new key current and the old
 * one retiring; new connections go to them; the old instances drain (1012) and their
 * clients resume on the new ones with resume tokens of the old key. Only then does the
 * app's token server sign with the new key. Here the revision's front is a TCP forwarder
 * whose target switches from instance A (old key set) to instance B (new key set) before
 * A drains, so the two run side by side as revisions do during a rollout. The new
 * revision's API then answers a token of either key, by `kid`.
 */
import crypto from "node:crypto";
import net from "node:net";
import { connect, type TetherSession } from "../../client";
import { startApi } from "../../functions/api/server";
import { createIngress } from "../../functions/ingress/server";
import { createRuntime, forComponent } from "../../functions/runtime";
import { signAccessToken, type TokenKeys } from "../../shared/auth";
import { loadSettings } from "../../shared/config";
import { createLogger, LOG_EVENT_FIELD, LOG_EVENTS } from "../../shared/logger";
import { testPcm, throttle } from "../support/ingress-audio";
import { type IngressHarness, logSink, reassemble, startIngressHarness } from "../support/ingress-harness";
import { until } from "../support/poll";

const CHUNK_SECONDS = 0.1; // 8 kHz pcm16: 1,600-byte chunks
const CHUNK_BYTES = 1600;
const STREAMS = 3;

let h: IngressHarness;
const closers: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  h = await startIngressHarness("rotate", { chunkSeconds: CHUNK_SECONDS, tokenKid: "k1" });
});
afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await h?.close();
});

/** A TCP front whose target can change: new connections go to the serving instance. */
async function startFront(initialPort: number): Promise<{ url: string; serve: (port: number) => void }> {
  let target = initialPort;
  const server = net.createServer((client) => {
    const upstream = net.connect(target, "127.0.0.1");
    client.pipe(upstream).pipe(client);
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", cut).on("close", cut);
    upstream.on("error", cut).on("close", cut);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as net.AddressInfo;
  return { url: `ws://127.0.0.1:${port}/v1/listen`, serve: (next) => (target = next) };
}

test("rotating the key while 3 conversations stream: no 4401, nothing lost", async () => {
  const oldKey = { kid: "k1", secret: h.tokenSecret };
  const newKey = { kid: "k2", secret: crypto.randomBytes(24).toString("base64url") };
  // The revision after the rotation: its own settings, clients and instance, same environment.
  const rotated = loadSettings({
    TETHER_ENVIRONMENT: h.env.resources.environment,
    TETHER_PROJECT_ID: h.env.resources.projectId,
    TETHER_TOKEN_SECRET: newKey.secret,
    TETHER_TOKEN_KID: newKey.kid,
    TETHER_TOKEN_RETIRING_SECRET: oldKey.secret,
    TETHER_TOKEN_RETIRING_KID: oldKey.kid,
    TETHER_CHUNK_SECONDS: String(CHUNK_SECONDS),
    LOG_LEVEL: "debug",
  });
  const runtimeB = forComponent(
    createRuntime(rotated, createLogger({ level: "debug", destination: logSink(h.logs) })),
    "ingress",
  );
  closers.push(() => runtimeB.clients.close());

  const front = await startFront(h.ingress.port);
  // The app's token server: signs with the old key until told otherwise.
  let signing: TokenKeys = { current: oldKey, retiring: [] };
  const audio = Array.from({ length: STREAMS }, (_, i) => testPcm(60 * CHUNK_BYTES + 300 * i, 90 + i));
  const sessions: TetherSession[] = await Promise.all(
    audio.map(() =>
      connect({
        url: front.url,
        token: () => signAccessToken(signing, "rotate-user"),
        codec: "pcm16",
        sampleRate: 8000,
        backoff: { initialDelayMs: 20, maxDelayMs: 200 },
        maxReconnectAttempts: 100,
      }),
    ),
  );
  const refusedCodes: number[] = [];
  const readies = sessions.map(() => 0);
  for (const [i, session] of sessions.entries()) {
    session.on("reconnecting", (event) => refusedCodes.push(event.closeCode));
    session.on("ready", () => {
      readies[i] = (readies[i] ?? 0) + 1;
    });
  }

  const sent = audio.map(() => 0);
  const streamUntil = async (fraction: number) => {
    await Promise.all(
      sessions.map(async (session, i) => {
        const body = audio[i] ?? Buffer.alloc(0);
        const end = Math.floor(body.length * fraction) & ~1;
        while ((sent[i] ?? 0) < end) {
          const from = sent[i] ?? 0;
          const to = Math.min(end, from + 640);
          await session.write(body.subarray(from, to));
          sent[i] = to;
          await throttle(session, 4 * CHUNK_BYTES);
        }
      }),
    );
  };

  await streamUntil(0.3);
  // Rollout: the new revision serves new connections, then the old one drains (goaway, then 1012).
  const b = await createIngress(runtimeB).listen({ host: "127.0.0.1", port: 0 });
  closers.push(() => b.close());
  front.serve(b.port);
  const readiesBeforeDrain = [...readies];
  const draining = h.ingress.close();
  await streamUntil(0.6);
  await draining;
  // Every conversation moved to the new revision, by a handover or a reconnect.
  expect(readies.every((n, i) => n > (readiesBeforeDrain[i] ?? 0))).toBe(true);
  // Once every instance holds the new key set, the app's token server switches keys, and
  // every conversation reconnects once with a token of the new key.
  signing = { current: newKey, retiring: [] };
  const readiesBefore = [...readies];
  for (const session of sessions) session.simulateDisconnect();
  await until("every session to resume", () => readies.every((n, i) => n > (readiesBefore[i] ?? 0)));
  await streamUntil(1);
  const results = await Promise.all(sessions.map((s) => s.finalize()));

  expect(refusedCodes).not.toContain(4401);
  const unauthorized = h.logs.filter(
    (l) => l[LOG_EVENT_FIELD] === LOG_EVENTS.socketRefused && l.code === "unauthorized",
  );
  expect(unauthorized).toEqual([]);
  for (const [i, session] of sessions.entries()) {
    const body = audio[i] ?? Buffer.alloc(0);
    expect(results[i]?.position).toBe(body.length);
    const expectedChunks = Math.ceil(body.length / CHUNK_BYTES);
    await h.audio.waitFor(
      `every chunk of stream ${i}`,
      () =>
        new Set(h.audio.forConversation(session.conversationId).map((m) => m.attributes.chunk_index)).size >=
        expectedChunks,
    );
    expect(reassemble(h.audio.forConversation(session.conversationId)).body.equals(body)).toBe(true);
  }

  // The new revision's API takes a token of either key, chosen by its kid, and no other kid.
  const api = await startApi(forComponent(runtimeB, "api"), { host: "127.0.0.1", port: 0 });
  closers.push(() => api.close());
  const list = async (keys: TokenKeys) =>
    await fetch(`${api.url}/v1/conversations`, {
      headers: { authorization: `Bearer ${await signAccessToken(keys, "rotate-user")}` },
    });
  for (const key of [oldKey, newKey]) {
    const answer = await list({ current: key, retiring: [] });
    expect(answer.status).toBe(200);
    expect(((await answer.json()) as { conversations: unknown[] }).conversations).toHaveLength(STREAMS);
  }
  expect((await list({ current: { kid: "k3", secret: newKey.secret }, retiring: [] })).status).toBe(401);
}, 120_000);
