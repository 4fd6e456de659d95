/**
 * The per-socket bookkeeping stays bounded whatever the number of reconnects: the record
 * keeps `events_recorded` for the last EVENTS_RECORDED_SOCKETS sockets, older counts move to
 * their session documents, and the lifecycle's barrier still waits for every socket's
 * events. Through the real ingress, then the real events and persist-audio workers fed
 * what the ingress published.
 */
import { createEventsHandler } from "../../functions/events/handler";
import { createPersistAudioHandler } from "../../functions/persist-audio/handler";
import { forComponent } from "../../functions/runtime";
import { conversationRef, sessionRef } from "../../shared/firestore-schema";
import { EVENTS_RECORDED_SOCKETS } from "../../shared/lifecycle";
import { testPcm } from "../support/ingress-audio";
import { type IngressHarness, type ReceivedMessage, startIngressHarness } from "../support/ingress-harness";
import { rawConnect } from "../support/ingress-raw-client";
import { deliveryOf } from "../support/workers-messages";
import { createWorkerTestRuntime, type WorkerTestRuntime } from "../support/workers-runtime";

const CHUNK = 1600;
const SOCKETS = EVENTS_RECORDED_SOCKETS + 6;

let h: IngressHarness;
let worker: WorkerTestRuntime;
beforeAll(async () => {
  h = await startIngressHarness("ledger");
  worker = createWorkerTestRuntime(h.env);
});
afterAll(async () => {
  await worker?.close();
  await h?.close();
});

test(`${SOCKETS} text-sending reconnects: the record keeps ${EVENTS_RECORDED_SOCKETS} sockets' counts, the barrier all of them`, async () => {
  const token = await h.token("u-ledger");
  const first = rawConnect(h.url, { token });
  const ready = await first.next("ready");
  const id = String(ready.conversation_id);
  const resumeToken = String(ready.resume_token);
  first.ws.close();
  await first.closed;
  const sessions: string[] = [];
  for (let i = 0; i < SOCKETS; i += 1) {
    const client = rawConnect(h.url, { token, resumeToken });
    const opened = await client.next("ready");
    sessions.push(String(opened.session_id));
    client.json({ type: "segments", segments: [{ id: `seg-${i}`, start: i, end: i + 0.5 }] });
    client.send(testPcm(CHUNK, i));
    await client.ackAtLeast((i + 1) * CHUNK);
    if (i === SOCKETS - 1) {
      client.json({ type: "finalize" });
      await client.next("finalized");
    } else client.ws.close();
    await client.closed;
  }

  const db = h.env.clients.firestore;
  const record = (await conversationRef(db, id).get()).data() ?? {};
  expect(Object.keys(record.events_recorded ?? {}).sort()).toEqual(sessions.slice(-EVENTS_RECORDED_SOCKETS).sort());
  expect(record.events_recorded_order).toEqual(sessions.slice(-EVENTS_RECORDED_SOCKETS));
  const oldest = sessions[0] ?? "";
  expect((await sessionRef(db, id, oldest).get()).get("events_recorded")).toBe(1);

  // A late resume hears 4410 with the recent sockets' counts (the SDK's own).
  const late = rawConnect(h.url, { token, resumeToken });
  expect((await late.closed).code).toBe(4410);
  const error = late.messages.find((m) => m.type === "error") as { events_recorded?: Record<string, number> };
  expect(error.events_recorded?.[sessions.at(-1) ?? ""]).toBe(1);

  // The workers: everything but the oldest socket's text, then the conversation still waits for it.
  const persist = createPersistAudioHandler(forComponent(worker.runtime, "persist-audio"));
  const events = createEventsHandler(forComponent(worker.runtime, "events"));
  const deliver = async (topic: "audio" | "events", messages: readonly ReceivedMessage[]) => {
    for (const m of messages) await (topic === "audio" ? persist : events)(deliveryOf(h.env.resources, topic, m));
  };
  await h.audio.waitFor("every chunk", () => h.audio.forConversation(id).length >= SOCKETS);
  await h.events.waitFor("every event", () => h.events.forConversation(id).length >= SOCKETS + 1);
  const published = h.events.forConversation(id);
  const fromOldest = published.filter(
    (m) => m.attributes.session_id === oldest && m.attributes.event_type === "segments",
  );
  expect(fromOldest).toHaveLength(1);
  await deliver("audio", h.audio.forConversation(id));
  await deliver(
    "events",
    published.filter((m) => !fromOldest.includes(m)),
  );
  expect((await conversationRef(db, id).get()).get("status")).toBe("finalizing");
  await deliver("events", fromOldest);
  expect((await conversationRef(db, id).get()).get("status")).toBe("finalized");
});
