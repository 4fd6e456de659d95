/**
 * The acceptance test: a stream with 10 forced disconnects (some mid-chunk) and one
 * ingress process killed and replaced yields, in the audio topic, chunks that reassemble
 * byte-identical to what was sent: no gap, no duplicate chunk index with different bytes.
 */
import { connect } from "../../client";
import { freePort } from "../../local/ports";
import { seededRandom, testPcm, throttle } from "../support/ingress-audio";
import { type IngressHarness, reassemble, startIngressHarness } from "../support/ingress-harness";
import { type IngressProcess, startIngressProcess } from "../support/ingress-process";
import { until } from "../support/poll";

const CHUNK_SECONDS = 0.1; // 8 kHz pcm16: 1,600-byte chunks
const CHUNK_BYTES = 1600;

let h: IngressHarness;
let instance: IngressProcess | undefined;

beforeAll(async () => {
  h = await startIngressHarness("resume", { chunkSeconds: CHUNK_SECONDS });
});
afterAll(async () => {
  await instance?.kill();
  await h?.close();
});

test("10 disconnects and a killed ingress process: the audio topic holds exactly the audio sent", async () => {
  const port = await freePort();
  const launch = () =>
    startIngressProcess({ resources: h.env.resources, tokenSecret: h.tokenSecret, port, chunkSeconds: CHUNK_SECONDS });
  instance = await launch();
  const audio = testPcm(120 * CHUNK_BYTES + 700, 7); // the last chunk is short
  const random = seededRandom(42);
  const session = await connect({
    url: instance.url,
    token: () => h.token("resume-user"),
    codec: "pcm16",
    sampleRate: 8000,
    backoff: { initialDelayMs: 20, maxDelayMs: 200 },
    maxReconnectAttempts: 200,
  });
  expect(session.environment).toBe(h.env.resources.environment);
  let readies = 0;
  session.on("ready", () => {
    readies += 1;
  });

  const disconnectAt = new Set([6, 13, 21, 30, 38, 47, 55, 64, 73, 81].map((i) => i * 2_000 + 333));
  const killAt = 100_000;
  let killed = false;
  let midChunkDisconnects = 0;
  let offset = 0;
  while (offset < audio.length) {
    const size = Math.min(audio.length - offset, 2 * (50 + Math.floor(random() * 400)));
    await session.write(audio.subarray(offset, offset + size));
    offset += size;
    for (const at of disconnectAt) {
      if (offset >= at) {
        disconnectAt.delete(at);
        if (session.stats.sent % CHUNK_BYTES !== 0) midChunkDisconnects += 1;
        session.simulateDisconnect();
      }
    }
    if (!killed && offset >= killAt) {
      killed = true;
      await instance.kill();
      instance = await launch();
    }
    await throttle(session, 4 * CHUNK_BYTES);
  }
  expect(disconnectAt.size).toBe(0);
  expect(midChunkDisconnects).toBeGreaterThan(0);
  const result = await session.finalize();
  expect(result.position).toBe(audio.length);
  expect(readies).toBeGreaterThanOrEqual(11);
  expect(session.stats.reconnects).toBeGreaterThanOrEqual(11);

  const conversationId = session.conversationId;
  const expectedChunks = Math.ceil(audio.length / CHUNK_BYTES);
  await h.audio.waitFor(
    "every chunk",
    () => new Set(h.audio.forConversation(conversationId).map((m) => m.attributes.chunk_index)).size >= expectedChunks,
  );
  const chunks = h.audio.forConversation(conversationId);
  const { body, indexes } = reassemble(chunks); // throws on a gap or a conflicting duplicate
  expect(indexes).toHaveLength(expectedChunks);
  expect(body.equals(audio)).toBe(true);
  const finals = chunks.filter((c) => c.attributes.final === "true");
  expect(new Set(finals.map((c) => c.attributes.chunk_index))).toEqual(new Set([String(expectedChunks - 1)]));
  for (const chunk of chunks) {
    expect(chunk.orderingKey).toBe(""); // no ordering key: storage is by index, not by order
    expect(chunk.attributes.environment).toBe(h.env.resources.environment);
  }
  await until("the finalize event", () =>
    h.events.forConversation(conversationId).some((m) => m.attributes.event_type === "finalize"),
  );
});
