import { type IngressHarness, reassemble, startIngressHarness } from "../support/ingress-harness";
import { rawConnect } from "../support/ingress-raw-client";

let h: IngressHarness;
beforeAll(async () => {
  h = await startIngressHarness("smoke");
});
afterAll(async () => {
  await h?.close();
});

test("smoke", async () => {
  const c = rawConnect(h.url, { token: await h.token() });
  const ready = await c.next("ready");
  console.log(ready);
  const audio = Buffer.alloc(5000);
  for (let i = 0; i < audio.length; i++) audio[i] = i % 251;
  c.send(audio.subarray(0, 2000));
  c.send(audio.subarray(2000, 5000));
  await c.ackAtLeast(4800);
  c.json({ type: "finalize" });
  const fin = await c.next("finalized");
  console.log(fin, await c.closed, c.acks());
  const id = String(ready.conversation_id);
  await h.audio.waitFor("chunks", () => h.audio.forConversation(id).length >= 4);
  const r = reassemble(h.audio.forConversation(id));
  expect(r.body.equals(audio)).toBe(true);
  console.log(h.audio.forConversation(id).map((m) => m.attributes));
  await h.events.waitFor("finalize", () => h.events.forConversation(id).length >= 1);
  console.log(h.events.forConversation(id).map((m) => [m.attributes, m.data.toString()]));
  console.log(h.logs.slice(-8));
});
