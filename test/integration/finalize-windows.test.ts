/**
 * The two windows around an idle-timeout finalize (issue 29), through a real ingress on the
 * emulators with a conversation store that fails or waits once:
 * - the `finalizing` write fails after the partial final chunk was published: the write is
 *   retried, so no resume can ever make a different chunk of that index (which would be
 *   dead-lettered as a conflict after the client was acknowledged for it);
 * - the ingress process dies (SIGKILL) between that publish and the write: the client
 *   resumes on another instance and streams on, and that instance cuts the stream where the
 *   dead one did (its recorded intent), so the chunk of that index is the same chunk;
 * - text that arrives between the barrier's freeze and `finalized` is counted by the
 *   record before `finalized` tells the client it is durable.
 */
import { ConversationStore } from "../../functions/ingress/conversation-store";
import { freePort } from "../../local/ports";
import { conversationRef } from "../../shared/firestore-schema";
import { testPcm } from "../support/ingress-audio";
import { type IngressHarness, reassemble, startIngressHarness } from "../support/ingress-harness";
import { startIngressProcess } from "../support/ingress-process";
import { rawConnect } from "../support/ingress-raw-client";
import { until } from "../support/poll";

const CHUNK = 1600;
let h: IngressHarness;

beforeAll(async () => {
  h = await startIngressHarness("fwin", { idleTimeoutSeconds: 1 });
});
afterAll(async () => {
  await h?.close();
});

type BeginFinalize = ConversationStore["beginFinalize"];

class BeginFinalizeFailsOnce extends ConversationStore {
  failures = 0;
  override async beginFinalize(...args: Parameters<BeginFinalize>): ReturnType<BeginFinalize> {
    if (this.failures === 0) {
      this.failures += 1;
      throw new Error("injected: the `finalizing` write failed");
    }
    return await super.beginFinalize(...args);
  }
}

class BeginFinalizeWaits extends ConversationStore {
  recorded = false;
  private release: () => void = () => undefined;
  private readonly gate = new Promise<void>((resolve) => {
    this.release = resolve;
  });
  override async beginFinalize(...args: Parameters<BeginFinalize>): ReturnType<BeginFinalize> {
    const result = await super.beginFinalize(...args);
    this.recorded = true;
    await this.gate;
    return result;
  }
  letThrough(): void {
    this.release();
  }
}

test("a failed `finalizing` write after the partial final chunk is retried: that chunk index never gets other audio", async () => {
  const holder: { store?: BeginFinalizeFailsOnce } = {};
  const instance = await h.startInstance({
    store: (runtime) => {
      holder.store = new BeginFinalizeFailsOnce(runtime.clients.firestore, runtime.resources.environment);
      return holder.store;
    },
  });
  const client = rawConnect(instance.url, { token: await h.token("user-fwin-a") });
  const ready = await client.next("ready");
  const id = String(ready.conversation_id);
  const audio = testPcm(CHUNK + 500, 61);
  client.send(audio);
  // The client goes quiet: the idle timeout publishes the partial final chunk, then records `finalizing`.
  expect(await client.next("finalized")).toEqual({ type: "finalized", conversation_id: id, position: CHUNK + 500 });
  expect(holder.store?.failures).toBe(1);
  await h.audio.waitFor("both chunks", () => h.audio.forConversation(id).length >= 2);
  expect(reassemble(h.audio.forConversation(id)).body.equals(audio)).toBe(true);
  // Resuming now cannot send chunk 1 again with more audio: the conversation is over.
  const late = rawConnect(instance.url, {
    token: await h.token("user-fwin-a"),
    resumeToken: String(ready.resume_token),
  });
  expect((await late.closed).code).toBe(4410);
  expect(late.messages[0]).toMatchObject({ code: "conversation_finalized", final_position: CHUNK + 500 });
});

test("the ingress dies between the partial final chunk and `finalizing`: the resumed socket cuts at the same place", async () => {
  const dying = await startIngressProcess(
    {
      resources: h.env.resources,
      tokenSecret: h.tokenSecret,
      port: await freePort(),
      chunkSeconds: 0.1,
      idleTimeoutSeconds: 1,
    },
    "test/support/ingress-dies-at-finalizing.ts",
  );
  try {
    const token = await h.token("user-fwin-c");
    const client = rawConnect(dying.url, { token });
    const ready = await client.next("ready");
    const id = String(ready.conversation_id);
    const audio = testPcm(3 * CHUNK, 63);
    const cut = CHUNK + 500;
    client.send(audio.subarray(0, cut));
    await client.ackAtLeast(CHUNK);
    // Quiet for the idle timeout: the process publishes the partial chunk 1, then dies.
    expect((await client.closed).code).toBe(1006);
    await h.audio.waitFor("the partial final chunk", () =>
      h.audio.forConversation(id).some((m) => m.attributes.final === "true"),
    );
    // The client kept recording: it resumes on another instance and re-sends all it was not acked for.
    const resumed = rawConnect(h.url, { token, resumeToken: String(ready.resume_token) });
    const position = Number((await resumed.next("ready")).position);
    resumed.send(audio.subarray(position));
    expect(await resumed.next("finalized")).toEqual({ type: "finalized", conversation_id: id, position: cut });
    expect(resumed.messages.filter((m) => m.type === "ack").every((m) => Number(m.position) <= cut)).toBe(true);
    await h.audio.waitFor("both chunks from the resumed socket", () => h.audio.forConversation(id).length >= 3);
    // Chunk 1 came twice (dead instance, resumed socket): the same bytes, so playback is exact.
    expect(reassemble(h.audio.forConversation(id)).body.equals(audio.subarray(0, cut))).toBe(true);
  } finally {
    if (dying.child.exitCode === null && dying.child.signalCode === null) await dying.kill();
  }
});

test("text that arrives after the barrier froze is counted before `finalized`", async () => {
  const holder: { store?: BeginFinalizeWaits } = {};
  const instance = await h.startInstance({
    store: (runtime) => {
      holder.store = new BeginFinalizeWaits(runtime.clients.firestore, runtime.resources.environment);
      return holder.store;
    },
  });
  const client = rawConnect(instance.url, { token: await h.token("user-fwin-b") });
  const ready = await client.next("ready");
  const id = String(ready.conversation_id);
  const sessionId = String(ready.session_id);
  client.json({ type: "segments", segments: [{ id: "s1", start: 0, end: 0.1 }] });
  client.send(testPcm(CHUNK + 500, 62));
  await until("the idle finalize's `finalizing` write", () => holder.store?.recorded === true);
  // Between the freeze and `finalized`: the socket still takes text, and `finalized` will cover it.
  client.json({ type: "segments", segments: [{ id: "s2", start: 0.1, end: 0.2 }] });
  await h.events.waitFor("the late segments event", () =>
    h.events.forConversation(id).some((m) => m.data.toString().includes('"s2"')),
  );
  holder.store?.letThrough();
  expect(await client.next("finalized")).toMatchObject({ position: CHUNK + 500 });
  const doc = (await conversationRef(h.env.clients.firestore, id).get()).data();
  expect(doc?.events_recorded).toEqual({ [sessionId]: 2 });
});
