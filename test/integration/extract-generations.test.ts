/**
 * Extraction generations against the emulator: a run that worked for an older generation
 * and finishes last writes neither its summary nor its profile changes, so it can never
 * overwrite the newer run's result or drop the people it found.
 */
import { commitProfile, StaleGenerationError } from "../../functions/extract-speakers/profile-store";
import { writeSummary } from "../../functions/extract-speakers/status";
import { type ConversationDoc, conversationRef, personRef } from "../../shared/firestore-schema";
import { createTestEnvironment, type TestEnvironment } from "../support/test-environment";
import {
  createWorkerTestRuntime,
  seedConversation,
  uniqueConversationId,
  type WorkerTestRuntime,
} from "../support/workers-runtime";

describe("extraction generations", () => {
  let env: TestEnvironment;
  let worker: WorkerTestRuntime;
  const db = () => env.clients.firestore;

  beforeAll(async () => {
    env = await createTestEnvironment("gen");
    worker = createWorkerTestRuntime(env);
  });
  afterAll(async () => {
    await worker?.close();
    await env?.close();
  });

  it("records the newest generation's result and refuses an older run that finishes last", async () => {
    const id = uniqueConversationId("gen");
    await seedConversation(worker.runtime, {
      id,
      userId: "user-g",
      codec: "pcm16",
      sampleRate: 16000,
      chunkSize: 16000,
      status: "finalized",
      extractionGeneration: 2,
    });
    const newer = [{ person_id: "p-new", status: "extracted" as const, samples: 1 }];
    expect(await writeSummary(db(), id, 2, newer)).toBe("done");
    const older = [{ person_id: "p-old", status: "extracted" as const, samples: 1 }];
    expect(await writeSummary(db(), id, 1, older)).toBe("stale");
    const doc = (await conversationRef(db(), id).get()).data() as ConversationDoc;
    expect(doc.extraction?.generation).toBe(2);
    expect(doc.extraction?.people.map((p) => p.person_id)).toEqual(["p-new"]);

    const change = {
      personId: "p-old",
      userId: "user-g",
      conversationId: id,
      proposedIds: new Set<string>(),
      added: [],
      reembedded: new Map(),
      maxSamples: 5,
      model: null,
    };
    await expect(commitProfile(db(), change, { generation: 1 })).rejects.toBeInstanceOf(StaleGenerationError);
    expect((await personRef(db(), "p-old").get()).exists).toBe(false);
    await commitProfile(db(), change, { generation: 2 });
    expect((await personRef(db(), "p-old").get()).exists).toBe(true);
  });
});
