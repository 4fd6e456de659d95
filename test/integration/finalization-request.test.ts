/**
 * An extraction generation is never left unrequested by a worker whose own write finds
 * it already started (functions/finalization.ts). That happens when the worker's write was
 * applied but its answer was lost (a connection cut mid-commit) and the write was retried:
 * the retry reads the generation started, as if another worker had. The message must then stay (redelivered) until the request is
 * recorded, and request it itself once the grace has passed. The chaos run found
 * conversations finalized with extraction pending forever without this.
 */
import { Timestamp } from "@google-cloud/firestore";
import { createFinalizer, RequestPendingError } from "../../functions/finalization";
import { type ConversationDoc, conversationRef } from "../../shared/firestore-schema";
import { LOST_REQUEST_GRACE_MS } from "../../shared/lifecycle";
import { createTestEnvironment, type TestEnvironment } from "../support/test-environment";
import {
  createWorkerTestRuntime,
  seedConversation,
  uniqueConversationId,
  type WorkerTestRuntime,
} from "../support/workers-runtime";

let env: TestEnvironment;
let worker: WorkerTestRuntime;

beforeAll(async () => {
  env = await createTestEnvironment("fin");
  worker = createWorkerTestRuntime(env);
});
afterAll(async () => {
  await worker?.close();
  await env?.close();
});

/** A finalized conversation whose generation 1 started `startedMsAgo` ago and is not recorded as requested. */
async function finalizedWithUnrequestedGeneration(startedMsAgo: number): Promise<string> {
  const id = uniqueConversationId("fin");
  await seedConversation(worker.runtime, {
    id,
    userId: "u",
    codec: "pcm16",
    sampleRate: 16000,
    chunkSize: 32000,
    status: "finalized",
    finalPosition: 0,
    finalizeReason: "client",
  });
  const started = Timestamp.fromMillis(Date.now() - startedMsAgo);
  const update: Partial<ConversationDoc> = {
    extraction_generation: 1,
    extraction_requested_generation: 0,
    extraction_generation_at: started,
    finalized_at: started,
  };
  await conversationRef(worker.runtime.clients.firestore, id).update(update);
  return id;
}

async function requestedGeneration(id: string): Promise<number | undefined> {
  const doc = (await conversationRef(worker.runtime.clients.firestore, id).get()).data() as ConversationDoc | undefined;
  return doc?.extraction_requested_generation;
}

test("speaker data written before the generation started: the message stays while its request is pending", async () => {
  const id = await finalizedWithUnrequestedGeneration(1000);
  const finalizer = createFinalizer(worker.runtime);
  await expect(finalizer.speakerDataChanged(id, Date.now() - 10_000, worker.runtime.logger)).rejects.toBeInstanceOf(
    RequestPendingError,
  );
  expect(await requestedGeneration(id)).toBe(0);
});

test("past the grace, the same message requests the generation itself", async () => {
  const id = await finalizedWithUnrequestedGeneration(LOST_REQUEST_GRACE_MS + 5000);
  const finalizer = createFinalizer(worker.runtime);
  await finalizer.speakerDataChanged(id, Date.now() - LOST_REQUEST_GRACE_MS - 10_000, worker.runtime.logger);
  expect(await requestedGeneration(id)).toBe(1);
  expect(worker.logs.lines.some((line) => line.message === "extraction request was lost; requesting again")).toBe(true);
});
