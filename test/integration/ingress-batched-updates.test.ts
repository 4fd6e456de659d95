/**
 * The ingress's durable-position writes share RPCs (functions/ingress/batched-updates.ts):
 * updates of one turn sent together must each still succeed or fail on their own
 * precondition, as a lone update would, never with the others (an atomic batch would).
 */
import type { Timestamp } from "@google-cloud/firestore";
import { BatchedUpdates } from "../../functions/ingress/batched-updates";
import { GrpcStatus, hasGrpcStatus } from "../../shared/grpc-error";
import { createTestEnvironment, type TestEnvironment } from "../support/test-environment";

let env: TestEnvironment;

beforeAll(async () => {
  env = await createTestEnvironment("batched");
});
afterAll(async () => {
  await env?.close();
});

test("updates sent in one turn each keep their own precondition and result", async () => {
  const db = env.clients.firestore;
  const records = db.collection("batched-updates");
  const [fresh, stale, missing] = [records.doc("fresh"), records.doc("stale"), records.doc("missing")];
  const freshTime = (await fresh.set({ position: 0 })).writeTime;
  const staleTime = (await stale.set({ position: 0 })).writeTime;
  await stale.update({ position: 5 }); // moves on: `staleTime` no longer matches

  const updates = new BatchedUpdates(db);
  const results = await Promise.allSettled([
    updates.update(fresh, { position: 10 }, { lastUpdateTime: freshTime }),
    updates.update(stale, { position: 10 }, { lastUpdateTime: staleTime }),
    updates.update(missing, { position: 10 }, { lastUpdateTime: freshTime }),
  ]);

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
