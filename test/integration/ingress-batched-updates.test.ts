/**
 * The ingress's durable-position writes share RPCs, sent as our own BatchWrite
 * (functions/ingress/batched-updates.ts, batch-write-rpc.ts) on the Firestore emulator:
 * each write lands as the client library's `update(data, {lastUpdateTime})` would have
 * written it; updates of one turn sent together each still succeed or fail on their own
 * precondition, never with the others (an atomic batch would); a connection cut mid-request
 * is retried on a new one.
 */
import { Firestore, Timestamp } from "@google-cloud/firestore";
import { BatchWriteRpc, type EncodedWrite, firestoreEndpointOf } from "../../functions/ingress/batch-write-rpc";
import { BatchedUpdates, MAX_BATCH_WRITES } from "../../functions/ingress/batched-updates";
import { newSessionId } from "../../functions/ingress/ids";
import { GrpcStatus, hasGrpcStatus } from "../../shared/grpc-error";
import { type CuttingProxy, startCuttingProxy } from "../support/cutting-proxy";
import { createTestEnvironment, runningEmulatorEndpoints, type TestEnvironment } from "../support/test-environment";

let env: TestEnvironment;
let db: Firestore;
let proxy: CuttingProxy;
const closing: Array<{ close(): unknown }> = [];

beforeAll(async () => {
  env = await createTestEnvironment("batched");
  db = env.clients.firestore;
  const [host, port] = runningEmulatorEndpoints().firestore.split(":");
  proxy = await startCuttingProxy({ host: host as string, port: Number(port) });
});
afterAll(async () => {
  for (const item of closing) await item.close();
  await proxy?.close();
  await env?.close();
});

function batchedUpdates(client = db): BatchedUpdates {
  const updates = new BatchedUpdates(client);
  closing.push(updates);
  return updates;
}

/** Records the number of writes of every BatchWrite this process sends, while `during` runs. */
async function countingRequests<T>(during: () => Promise<T>): Promise<{ result: T; requests: number[] }> {
  const requests: number[] = [];
  const original = BatchWriteRpc.prototype.batchWrite;
  BatchWriteRpc.prototype.batchWrite = function (this: BatchWriteRpc, writes: readonly EncodedWrite[]) {
    requests.push(writes.length);
    return original.call(this, writes);
  };
  try {
    return { result: await during(), requests };
  } finally {
    BatchWriteRpc.prototype.batchWrite = original;
  }
}

/** A document's fields as the emulator stores them, typed (`integerValue`, `timestampValue`, ...). */
async function storedFields(path: string): Promise<unknown> {
  const { database } = await firestoreEndpointOf(db);
  const url = `http://${runningEmulatorEndpoints().firestore}/v1/${database}/documents/${path}`;
  const response = await fetch(url, { headers: { authorization: "Bearer owner" } });
  expect(response.status).toBe(200);
  return ((await response.json()) as { fields: unknown }).fields;
}

test("each of the store's updates lands exactly as the client library's update writes it", async () => {
  const session = newSessionId();
  const other = newSessionId();
  const at = new Timestamp(1_765_000_123, 456_789_000);
  const initial = {
    status: "in_progress",
    durable_position: 0,
    events_recorded: { [other]: 2 },
    final_intent: { final_position: 9, reason: "idle_timeout" },
  };
  const updates: Array<Record<string, unknown>> = [
    { durable_position: 3_200_000, [`events_recorded.${session}`]: 7, updated_at: at },
    { final_intent: { final_position: 160_000, reason: "idle_timeout" }, updated_at: at },
    { final_intent: null, updated_at: at },
    {
      status: "finalizing",
      durable_position: 1_234_567,
      final_position: 1_234_567,
      finalize_reason: "client",
      [`events_recorded.${other}`]: 3,
      updated_at: at,
    },
  ];
  const ours = batchedUpdates();
  await Promise.all(
    updates.map(async (data, i) => {
      const [byLibrary, byUs] = [db.doc(`batched-same/lib-${i}`), db.doc(`batched-same/ours-${i}`)];
      const [libraryTime, ourTime] = await Promise.all([byLibrary.set(initial), byUs.set(initial)]);
      await byLibrary.update(data, { lastUpdateTime: libraryTime.writeTime });
      const { writeTime } = await ours.update(byUs, data, { lastUpdateTime: ourTime.writeTime });
      expect(await storedFields(`batched-same/ours-${i}`)).toEqual(await storedFields(`batched-same/lib-${i}`));
      const read = await byUs.get();
      expect(read.data()).toEqual((await byLibrary.get()).data());
      // The write time is the next precondition: another update on it lands.
      expect(writeTime.isEqual(read.updateTime as Timestamp)).toBe(true);
      await ours.update(byUs, { durable_position: 5 }, { lastUpdateTime: writeTime });
    }),
  );
});

test("updates sent in one turn each keep their own precondition and result", async () => {
  const records = db.collection("batched-updates");
  const [fresh, stale, missing] = [records.doc("fresh"), records.doc("stale"), records.doc("missing")];
  const freshTime = (await fresh.set({ position: 0 })).writeTime;
  const staleTime = (await stale.set({ position: 0 })).writeTime;
  await stale.update({ position: 5 }); // moves on: `staleTime` no longer matches

  const updates = batchedUpdates();
  const { result: results, requests } = await countingRequests(() =>
    Promise.allSettled([
      updates.update(fresh, { position: 10 }, { lastUpdateTime: freshTime }),
      updates.update(stale, { position: 10 }, { lastUpdateTime: staleTime }),
      updates.update(missing, { position: 10 }, { lastUpdateTime: freshTime }),
    ]),
  );
  expect(requests).toEqual([3]);

  const [ok, lostRace, absent] = results;
  expect(ok.status).toBe("fulfilled");
  const written = await fresh.get();
  expect(written.get("position")).toBe(10);
  if (ok.status === "fulfilled") expect(ok.value.writeTime.isEqual(written.updateTime as Timestamp)).toBe(true);
  expect(lostRace.status).toBe("rejected");
  if (lostRace.status === "rejected") expect(hasGrpcStatus(lostRace.reason, GrpcStatus.FAILED_PRECONDITION)).toBe(true);
  expect((await stale.get()).get("position")).toBe(5);
  expect(absent.status).toBe("rejected");
  expect((await missing.get()).exists).toBe(false);
});

test("many updates in one turn: at most 20 per request, one per document, each with its own result", async () => {
  const refs = Array.from({ length: 45 }, (_, i) => db.doc(`batched-many/d${i}`));
  const times = await Promise.all(refs.map(async (ref) => (await ref.set({ position: 0 })).writeTime));
  const last = refs.length - 1;
  const updates = batchedUpdates();
  const { result: results, requests } = await countingRequests(() =>
    Promise.allSettled([
      ...refs.map((ref, i) => updates.update(ref, { position: i + 1 }, { lastUpdateTime: times[i] as Timestamp })),
      // The same document again, on the same precondition: it goes in a request of its own.
      updates.update(
        refs[last] as (typeof refs)[number],
        { position: -1 },
        { lastUpdateTime: times[last] as Timestamp },
      ),
    ]),
  );
  expect(requests).toEqual([MAX_BATCH_WRITES, MAX_BATCH_WRITES, 5, 1]);
  for (const [i, ref] of refs.slice(0, last).entries()) {
    expect(results[i]?.status).toBe("fulfilled");
    expect((await ref.get()).get("position")).toBe(i + 1);
  }
  // Of the two writes to the last document exactly one lands; the other lost the race.
  const twice = [results[last], results[last + 1]];
  expect(twice.filter((result) => result?.status === "fulfilled")).toHaveLength(1);
  const lost = twice.find((result) => result?.status === "rejected") as PromiseRejectedResult;
  expect(hasGrpcStatus(lost.reason, GrpcStatus.FAILED_PRECONDITION)).toBe(true);
  expect([last + 1, -1]).toContain((await refs[last]?.get())?.get("position"));
});

test("a connection cut in the middle of a request: the BatchWrite is retried on a new one", async () => {
  // The client library takes its endpoint from the emulator variable: a client created while it
  // names the proxy talks through the proxy.
  const saved = process.env.FIRESTORE_EMULATOR_HOST;
  process.env.FIRESTORE_EMULATOR_HOST = proxy.hostPort;
  const proxied = new Firestore({ projectId: env.resources.projectId, databaseId: env.resources.databaseId });
  process.env.FIRESTORE_EMULATOR_HOST = saved;
  closing.push({ close: () => proxied.terminate() });

  const refs = Array.from({ length: MAX_BATCH_WRITES }, (_, i) => proxied.doc(`batched-cut/d${i}`));
  const times = await Promise.all(refs.map(async (ref) => (await db.doc(ref.path).set({ n: 0 })).writeTime));
  const updates = batchedUpdates(proxied);
  const before = proxy.connections();
  // About 6 KB in one request; the cut lands after 2 KB of it.
  proxy.cutNextAfter(2048);
  const padding = "x".repeat(200);
  const { requests } = await countingRequests(() =>
    Promise.all(
      refs.map((ref, i) => updates.update(ref, { n: i + 1, padding }, { lastUpdateTime: times[i] as Timestamp })),
    ),
  );
  expect(requests).toEqual([MAX_BATCH_WRITES]);
  expect(proxy.connections() - before).toBe(2);
  const stored = await Promise.all(refs.map(async (ref) => (await db.doc(ref.path).get()).get("n")));
  expect(stored).toEqual(refs.map((_, i) => i + 1));
});
