/**
 * Which chunks wait to share a publish RPC (functions/ingress/gathered-publish.ts): only one that
 * follows another within the window, so a lone chunk is never held back; and how a gathered
 * batch is cut by its limits (the emulator test covers the RPC itself).
 */
import { ChunkGathering, GatheredPublisher, type OutgoingMessage } from "../../functions/ingress/gathered-publish";

test("a chunk waits for company only when it follows another within the window", () => {
  const gathering = new ChunkGathering(25);
  expect(gathering.next(1_000)).toBe(false); // the first chunk leaves at once
  expect(gathering.next(1_010)).toBe(true); // a busy instance: chunks 10 ms apart share RPCs
  expect(gathering.next(1_034)).toBe(true);
  expect(gathering.next(1_059)).toBe(false); // 25 ms after the last: alone again
  expect(gathering.next(2_000)).toBe(false); // a quiet instance: each chunk leaves at once
});

test("a gathered batch leaves when full; a chunk that would overflow it starts the next", async () => {
  const sent: string[][] = [];
  const rpc = async (messages: OutgoingMessage[]) => {
    const names = messages.map((m) => Buffer.from(m.data).toString());
    sent.push(names);
    return names.map((name) => `id-${name}`);
  };
  const publisher = new GatheredPublisher(rpc, { windowMs: 60_000, maxMessages: 3, maxBytes: 10 });
  const publish = (name: string) => publisher.publish({ data: Buffer.from(name), attributes: {} });
  const ids = [publish("x"), publish("aaaa"), publish("bbbb")];
  expect(sent).toEqual([["x"]]); // alone: at once; the next two wait (8 bytes)
  ids.push(publish("cccc")); // 12 bytes would overflow: the two leave, this one waits
  expect(sent).toEqual([["x"], ["aaaa", "bbbb"]]);
  ids.push(publish("d"), publish("e")); // the third message fills the batch
  expect(sent).toEqual([["x"], ["aaaa", "bbbb"], ["cccc", "d", "e"]]);
  expect(await Promise.all(ids)).toEqual(["id-x", "id-aaaa", "id-bbbb", "id-cccc", "id-d", "id-e"]);
});

test("an answer without an id for every message fails every chunk of the RPC", async () => {
  const publisher = new GatheredPublisher(async () => ["only-one"], {
    windowMs: 60_000,
    maxMessages: 2,
    maxBytes: 100,
  });
  const results = await Promise.allSettled([
    publisher.publish({ data: Buffer.from("a"), attributes: {} }),
    publisher.publish({ data: Buffer.from("b"), attributes: {} }),
    publisher.publish({ data: Buffer.from("c"), attributes: {} }),
  ]);
  expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "rejected"]);
  await expect(publisher.flush()).resolves.toBeUndefined();
});
