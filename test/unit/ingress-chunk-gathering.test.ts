/**
 * Which chunks wait to share a publish RPC (functions/ingress/publisher.ts): only one that
 * follows another within the window, so a lone chunk is never held back.
 */
import { ChunkGathering } from "../../functions/ingress/publisher";

test("a chunk waits for company only when it follows another within the window", () => {
  const gathering = new ChunkGathering(25);
  expect(gathering.next(1_000)).toBe(false); // the first chunk leaves at once
  expect(gathering.next(1_010)).toBe(true); // a busy instance: chunks 10 ms apart share RPCs
  expect(gathering.next(1_034)).toBe(true);
  expect(gathering.next(1_059)).toBe(false); // 25 ms after the last: alone again
  expect(gathering.next(2_000)).toBe(false); // a quiet instance: each chunk leaves at once
});
