/**
 * Limits that keep one greedy client from hurting anyone else, through the real ingress on
 * the emulators: text frames count against the same in-flight and byte budgets as audio,
 * and the per-user limits (live sockets, conversations started per minute, a
 * conversation's audio length and segment count) are refused with 4429 naming the limit.
 */
import { MAX_TEXT_FRAME_BYTES } from "../../shared/protocol";
import { GatedPublisher } from "../support/ingress-gated-publisher";
import { type IngressHarness, startIngressHarness } from "../support/ingress-harness";
import { type RawClient, rawConnect } from "../support/ingress-raw-client";

let h: IngressHarness;
beforeAll(async () => {
  h = await startIngressHarness("limits");
});
afterAll(async () => {
  await h?.close();
});

async function refusedWith(client: RawClient, closeCode: number, code: string): Promise<Record<string, unknown>> {
  const closed = await client.closed;
  expect(closed.code).toBe(closeCode);
  const error = client.messages.find((m) => m.type === "error");
  expect(error).toMatchObject({ type: "error", code });
  return error ?? {};
}

/** A segments message of about `bytes` bytes (segments of at most 100,000 characters of text). */
function bigSegments(id: string, bytes: number): string {
  const segments = [0, 1, 2].map((i) => ({ id: `${id}-${i}`, start: i, end: i + 1, text: "" }));
  const skeleton = JSON.stringify({ type: "segments", segments }).length;
  const each = Math.floor((bytes - skeleton) / 3);
  return JSON.stringify({ type: "segments", segments: segments.map((s) => ({ ...s, text: "x".repeat(each) })) });
}

describe("text frames count against the in-flight and byte budgets", () => {
  test("a client flooding 256 KiB text frames faster than Pub/Sub confirms them is slowed, then 1013", async () => {
    const holder: { publisher?: GatedPublisher } = {};
    const instance = await h.startInstance({
      publisher: GatedPublisher.factory(holder, { gateEvents: true }),
      limits: { overloadCloseMs: 500 },
    });
    const client = rawConnect(instance.url, { token: await h.token("flooder") });
    await client.next("ready");
    const frames = 40;
    for (let i = 0; i < frames; i += 1) client.send(bigSegments(`s${i}`, MAX_TEXT_FRAME_BYTES - 16));
    const error = await refusedWith(client, 1013, "overloaded");
    expect(String(error.message)).toContain("pipeline");
    // The socket stopped being read at 1 MiB in flight: a few frames, not the 40 sent (10 MiB).
    const held = holder.publisher?.eventsWaiting ?? 0;
    expect(held).toBeGreaterThanOrEqual(4);
    expect(held).toBeLessThanOrEqual(8);
    const line = h.logs.find((l) => l.code === "overloaded" && l.user_id === "flooder");
    expect(Number(line?.in_flight_event_bytes)).toBeLessThanOrEqual(8 * MAX_TEXT_FRAME_BYTES);
    holder.publisher?.release();
    await instance.close();
  });
});
