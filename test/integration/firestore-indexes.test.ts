/**
 * The emulator serves any query, indexed or not; production Firestore refuses one whose
 * composite index does not exist. Every query of the code runs through the checking builder
 * (shared/firestore-query.ts), so on the emulator too the conversation list fails without
 * its declared index, and every integration test of a query path checks its index.
 */
import * as firestoreModule from "@google-cloud/firestore";
import type { RunningService } from "../../functions/runtime";
import { signAccessToken } from "../../shared/auth";
import { createTestEnvironment, type TestEnvironment } from "../support/test-environment";
import {
  createWorkerTestRuntime,
  seedConversation,
  uniqueConversationId,
  type WorkerTestRuntime,
} from "../support/workers-runtime";

describe("Firestore indexes on the emulator", () => {
  let env: TestEnvironment;
  let worker: WorkerTestRuntime;
  let token: string;

  beforeAll(async () => {
    env = await createTestEnvironment("idx");
    worker = createWorkerTestRuntime(env);
    token = await signAccessToken(worker.tokenSecret, "alice");
    await seedConversation(worker.runtime, {
      id: uniqueConversationId("idx"),
      userId: "alice",
      codec: "pcm16",
      sampleRate: 16000,
      chunkSize: 32000,
      durablePosition: 0,
    });
  });

  afterAll(async () => {
    await worker?.close();
    await env?.close();
  });

  /** GET /v1/conversations from an API built with `indexes` as the declaration. */
  const listWith = async (indexes: "declared" | "none") => {
    let result: { status: number; body: { conversations?: unknown[] } } | undefined;
    await jest.isolateModulesAsync(async () => {
      // One Firestore library for the seeded documents and the API (its Timestamp class).
      jest.doMock("@google-cloud/firestore", () => firestoreModule);
      if (indexes === "none") {
        jest.doMock("../../shared/firestore-indexes", () => ({
          ...jest.requireActual("../../shared/firestore-indexes"),
          FIRESTORE_INDEXES: [],
        }));
      }
      const { startApi } = await import("../../functions/api/server");
      const { forComponent } = await import("../../functions/runtime");
      const api: RunningService = await startApi(forComponent(worker.runtime, "api"), { host: "127.0.0.1", port: 0 });
      try {
        const response = await fetch(`${api.url}/v1/conversations`, { headers: { authorization: `Bearer ${token}` } });
        result = { status: response.status, body: (await response.json()) as { conversations?: unknown[] } };
      } finally {
        await api.close();
        jest.dontMock("../../shared/firestore-indexes");
        jest.dontMock("@google-cloud/firestore");
      }
    });
    if (result === undefined) throw new Error("the list request did not complete");
    return result;
  };

  it("lists with the declared index", async () => {
    const { status, body } = await listWith("declared");
    expect({ status, logs: worker.logs.find("ERROR") }).toEqual({ status: 200, logs: [] });
    expect(body.conversations).toHaveLength(1);
  });

  it("refuses the list without it, naming the query, as production Firestore would", async () => {
    const { status } = await listWith("none");
    expect(status).toBe(500);
    const failures = worker.logs.find("ERROR", { message: "API request failed", path: "/v1/conversations" });
    expect(JSON.stringify(failures)).toContain(
      "no Firestore index serves the query conversations (user_id ==, order created_at desc, order id desc)",
    );
  });
});
