/**
 * Extraction generations against the emulator: a run that worked for an older generation
 * and finishes last writes neither its summary nor its profile changes, so it can never
 * overwrite the newer run's result or drop the people it found. Runs of one request at once
 * (Pub/Sub delivers duplicates concurrently) all finish, and lose none of each other's
 * samples.
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
    expect((await personRef(db(), "user-g", "p-old").get()).exists).toBe(false);
    await commitProfile(db(), change, { generation: 2 });
    expect((await personRef(db(), "user-g", "p-old").get()).exists).toBe(true);
  });

  it("lets concurrent runs of one generation all finish, keeping every run's samples", async () => {
    const id = uniqueConversationId("gen");
    await seedConversation(worker.runtime, {
      id,
      userId: "user-c",
      codec: "pcm16",
      sampleRate: 16000,
      chunkSize: 16000,
      status: "finalized",
      extractionGeneration: 1,
    });
    const personId = `p-${id}`;
    const sample = (n: number) => ({
      uri: `gs://bucket/people/${personId}/samples/s${n}.wav`,
      sample_id: `s${n}`,
      conversation_id: id,
      segment_ids: [`seg-${n}`],
      duration_ms: 2000,
    });
    const runs = 6;
    const proposedIds = new Set(Array.from({ length: runs }, (_, n) => `s${n}`));
    // Each copy adds one sample; all propose the same set, as duplicates of one request do.
    const results = await Promise.allSettled(
      Array.from({ length: runs }, (_, n) =>
        commitProfile(
          db(),
          {
            personId,
            userId: "user-c",
            conversationId: id,
            proposedIds,
            added: [sample(n)],
            reembedded: new Map(),
            maxSamples: 10,
            model: null,
          },
          { generation: 1 },
        ),
      ),
    );
    expect(results.filter((r) => r.status === "rejected")).toEqual([]);
    const stored = (await personRef(db(), "user-c", personId).get()).data() as {
      samples: Array<{ sample_id: string }>;
    };
    expect(stored.samples.map((s) => s.sample_id).sort()).toEqual([...proposedIds].sort());

    const people = [{ person_id: personId, status: "extracted" as const, samples: runs }];
    const summaries = await Promise.allSettled(Array.from({ length: runs }, () => writeSummary(db(), id, 1, people)));
    expect(summaries.map((r) => (r.status === "fulfilled" ? r.value : String(r.reason)))).toEqual(
      Array.from({ length: runs }, () => "done"),
    );
    const doc = (await conversationRef(db(), id).get()).data() as ConversationDoc;
    expect(doc.extraction).toMatchObject({ status: "done", generation: 1 });
  });
});
