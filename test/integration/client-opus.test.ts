/**
 * Opus through the SDK: real packets (encoded with libopus), one per binary message, with
 * disconnects; the chunks hold exactly the packets sent, in order.
 */
import { connect } from "../../client";
import { encodeOpusPackets } from "../../client/opus-encoder";
import { speechLikePcm } from "../../client/speech-like";
import { unframeOpusPackets } from "../../shared/audio-format";
import { throttle } from "../support/ingress-audio";
import { type IngressHarness, startIngressHarness } from "../support/ingress-harness";

let h: IngressHarness;
beforeAll(async () => {
  h = await startIngressHarness("opus", { chunkSeconds: 0.1 }); // 5 packets a chunk
});
afterAll(async () => {
  await h?.close();
});

test("an Opus stream with disconnects arrives packet for packet", async () => {
  const packets = encodeOpusPackets(speechLikePcm(2.34, 16000, 5), 16000); // 117 packets: the last chunk is short
  const session = await connect({
    url: h.url,
    token: () => h.token(),
    codec: "opus",
    sampleRate: 16000,
    backoff: { initialDelayMs: 10, maxDelayMs: 50 },
  });
  expect(session.positionUnit).toBe("packet");
  expect(session.chunkSize).toBe(5);
  for (const [i, packet] of packets.entries()) {
    await session.write(packet);
    if (i === 23 || i === 61 || i === 97) session.simulateDisconnect();
    await throttle(session, 15);
  }
  expect(await session.finalize()).toEqual({ conversationId: session.conversationId, position: packets.length });
  const id = session.conversationId;
  await h.audio.waitFor(
    "every chunk",
    () => new Set(h.audio.forConversation(id).map((m) => m.attributes.chunk_index)).size >= 24,
  );
  const byIndex = new Map(h.audio.forConversation(id).map((m) => [Number(m.attributes.chunk_index), m]));
  const received = [...byIndex.keys()]
    .sort((a, b) => a - b)
    .flatMap((i) => unframeOpusPackets(byIndex.get(i)?.data ?? Buffer.alloc(0)));
  expect(received).toEqual(packets);
  expect(byIndex.get(23)?.attributes).toMatchObject({
    codec: "opus",
    start: "115",
    end: "117",
    final: "true",
    chunk_size: "5",
  });
});
