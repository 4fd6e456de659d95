/**
 * The one guarantee, at the ingress: a conversation stays in the environment it started
 * in. Environment A's resume token presented to environment B's ingress gets 4409 with
 * `expected_environment`, and nothing reaches B's topics; the SDK pins A's URL across
 * reconnects even when "the current backend" changes to B mid-session.
 */
import { connect, type TetherError } from "../../client";
import { nodeSocketFactory } from "../../client/node-socket";
import { testPcm, throttle } from "../support/ingress-audio";
import { type IngressHarness, reassemble, startIngressHarness } from "../support/ingress-harness";
import { rawConnect } from "../support/ingress-raw-client";

const CHUNK = 1600;
let a: IngressHarness;
let b: IngressHarness;

beforeAll(async () => {
  [a, b] = await Promise.all([startIngressHarness("enva"), startIngressHarness("envb")]);
});
afterAll(async () => {
  await Promise.allSettled([a?.close(), b?.close()]);
});

/** A full conversation on B, awaited in both of B's topics: anything refused earlier would be there by now. */
async function sentinelOnB(): Promise<string> {
  const client = rawConnect(b.url, { token: await b.token() });
  const id = String((await client.next("ready")).conversation_id);
  client.send(testPcm(CHUNK, 3));
  client.json({ type: "finalize" });
  await client.next("finalized");
  await b.audio.waitFor("B's sentinel chunk", () => b.audio.forConversation(id).length >= 1);
  await b.events.waitFor("B's sentinel finalize", () => b.events.forConversation(id).length >= 1);
  return id;
}

test("A's resume token at B's ingress: 4409 naming A, and nothing reaches B's topics", async () => {
  const onA = rawConnect(a.url, { token: await a.token() });
  const ready = await onA.next("ready");
  onA.send(testPcm(CHUNK + 300));
  await onA.ackAtLeast(CHUNK);
  onA.ws.terminate();

  // The reconnect goes to the wrong environment, with A's access token and A's resume token,
  // and the client sends audio and a segment without waiting for ready.
  const onB = rawConnect(b.url, { token: await a.token(), resumeToken: String(ready.resume_token) });
  await onB.opened();
  onB.send(testPcm(CHUNK * 2, 5));
  onB.json({
    type: "segments",
    segments: [{ id: "s1", start: 0, end: 1, text: "x", speaker: "S0", is_user: true, person_id: null }],
  });
  const closed = await onB.closed;
  expect(closed.code).toBe(4409);
  expect(onB.messages).toEqual([
    expect.objectContaining({
      type: "error",
      code: "wrong_environment",
      environment: b.env.resources.environment,
      expected_environment: a.env.resources.environment,
    }),
  ]);
  const log = b.logs.find((l) => l.code === "wrong_environment");
  expect(log).toMatchObject({ severity: "WARNING", environment: b.env.resources.environment });

  const sentinel = await sentinelOnB();
  expect(b.audio.messages.every((m) => m.attributes.conversation_id === sentinel)).toBe(true);
  expect(b.events.messages.every((m) => m.attributes.conversation_id === sentinel)).toBe(true);
  // B has no record of A's conversation.
  const doc = await b.env.clients.firestore.collection("conversations").doc(String(ready.conversation_id)).get();
  expect(doc.exists).toBe(false);
});

test("a forged resume token that claims B's environment is 4401 at B", async () => {
  const onA = rawConnect(a.url, { token: await a.token() });
  const ready = await onA.next("ready");
  onA.ws.close();
  // Re-sign A's claims as if they named B, with A's key: B cannot verify it.
  const { SignJWT, decodeJwt } = await import("jose");
  const claims = decodeJwt(String(ready.resume_token));
  const forged = await new SignJWT({ ...claims, env: b.env.resources.environment })
    .setProtectedHeader({ alg: "HS256" })
    .sign(new TextEncoder().encode(a.tokenSecret));
  const onB = rawConnect(b.url, { token: await b.token(), resumeToken: forged });
  expect((await onB.closed).code).toBe(4401);
});

test("the SDK keeps a conversation on A when the app's idea of the current backend flips to B", async () => {
  let lookups = 0;
  const session = await connect({
    url: () => {
      lookups += 1;
      return lookups === 1 ? a.url : b.url;
    },
    token: () => a.token(),
    codec: "pcm16",
    sampleRate: 8000,
    backoff: { initialDelayMs: 10, maxDelayMs: 50 },
  });
  expect(session.environment).toBe(a.env.resources.environment);
  const audio = testPcm(CHUNK * 6 + 90, 11);
  for (let offset = 0; offset < audio.length; offset += 1000) {
    await session.write(audio.subarray(offset, Math.min(audio.length, offset + 1000)));
    if (offset % 3000 === 0) session.simulateDisconnect();
    await throttle(session, 3 * CHUNK);
  }
  await session.finalize();
  expect(lookups).toBe(1);
  expect(session.stats.reconnects).toBeGreaterThanOrEqual(2);
  const id = session.conversationId;
  // Distinct indexes: a reconnect may publish a chunk twice, so 7 messages need not be 7 chunks.
  const indexes = () => new Set(a.audio.forConversation(id).map((m) => m.attributes.chunk_index));
  await a.audio.waitFor("every chunk on A", () => indexes().size >= 7);
  const stored = reassemble(a.audio.forConversation(id));
  const differing = stored.indexes.filter((i) => {
    const expected = audio.subarray(i * CHUNK, (i + 1) * CHUNK);
    return !stored.body.subarray(i * CHUNK, (i + 1) * CHUNK).equals(expected);
  });
  expect({ indexes: stored.indexes, differing }).toEqual({ indexes: [0, 1, 2, 3, 4, 5, 6], differing: [] });
  expect(stored.body.equals(audio)).toBe(true);
  expect(b.audio.forConversation(id)).toEqual([]);
});

test("the SDK given A's resume token and B's URL stops with wrong_environment and never tries elsewhere", async () => {
  const onA = rawConnect(a.url, { token: await a.token() });
  const ready = await onA.next("ready");
  onA.ws.close();
  const urls: string[] = [];
  const failure = await connect({
    url: b.url,
    token: () => a.token(),
    codec: "pcm16",
    sampleRate: 8000,
    resumeToken: String(ready.resume_token),
    createSocket: (url, headers) => {
      urls.push(url);
      return nodeSocketFactory(url, headers);
    },
  }).then(
    () => undefined,
    (error: TetherError) => error,
  );
  expect(failure).toMatchObject({
    code: "wrong_environment",
    details: {
      closeCode: 4409,
      expectedEnvironment: a.env.resources.environment,
      environment: b.env.resources.environment,
    },
  });
  expect(urls).toHaveLength(1);
  expect(urls[0]?.startsWith(b.url)).toBe(true);
});
