/**
 * `npm run dead-letters` against the emulators, run as an operator runs it (a child
 * process that finds the emulator and project through a state file only): dead letters
 * made by the workers' own dead-lettering are listed without being consumed, and a replay
 * puts the original message back on its topic and takes it out of the store.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createDeadLetterer } from "../../functions/dead-letter";
import { createDeletionGuard } from "../../functions/deletion/guard";
import { createDeliveryRecorder } from "../../functions/delivery-record";
import { type EnvironmentRuntime, forComponent } from "../../functions/runtime";
import type { ComponentKey } from "../../shared/pipeline";
import type { ReceivedMessage } from "../../shared/pubsub-event";
import { pullMessages } from "../support/pull";
import { createTestEnvironment, type TestEnvironment } from "../support/test-environment";
import { createWorkerTestRuntime, uniqueConversationId, type WorkerTestRuntime } from "../support/workers-runtime";

const ROOT = path.resolve(__dirname, "../..");

interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function deadLetters(args: readonly string[]): Promise<Result> {
  // Only the state file says where the emulator is.
  const { PUBSUB_EMULATOR_HOST: _unused, ...environment } = process.env;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "scripts/dead-letters.ts", ...args],
      { cwd: ROOT, env: environment, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe("npm run dead-letters", () => {
  let env: TestEnvironment;
  let worker: WorkerTestRuntime;
  let stateFile: string;
  const audioId = uniqueConversationId("dl-audio");
  const eventsId = uniqueConversationId("dl-events");
  const original = (conversationId: string, body: string): ReceivedMessage => ({
    id: `orig-${conversationId}`,
    data: Buffer.from(body),
    attributes: { environment: "elsewhere", conversation_id: conversationId, schema_version: "1" },
    publishTime: undefined,
    orderingKey: undefined,
    deliveryAttempt: undefined,
  });
  const audio = () => original(audioId, "chunk bytes");
  const events = () => original(eventsId, '{"type":"segments"}');
  const where = () => ["--env", env.resources.environment, "--state-file", stateFile];

  beforeAll(async () => {
    env = await createTestEnvironment("dl");
    worker = createWorkerTestRuntime(env);
    stateFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "tether-dl-")), "state.json");
    fs.writeFileSync(
      stateFile,
      JSON.stringify({
        envs: { [env.resources.environment]: { project_id: env.resources.projectId } },
        emulators: { pubsub: process.env.PUBSUB_EMULATOR_HOST },
      }),
    );
    // Dead letters as the workers make them.
    const reason = { reason: "wrong_environment", detail: "tagged environment=elsewhere" } as const;
    // As the workers wire it: the dead letter is recorded against its conversation, under their deletion guard.
    const deadLetterer = (runtime: EnvironmentRuntime, component: ComponentKey) =>
      createDeadLetterer(runtime, component, createDeliveryRecorder(runtime, createDeletionGuard(runtime, component)));
    await deadLetterer(forComponent(worker.runtime, "persistAudio"), "persistAudio").reject(audio(), reason);
    await deadLetterer(forComponent(worker.runtime, "processEvents"), "events").reject(events(), {
      reason: "invalid_schema",
      detail: "segments.0.start: expected number",
    });
  });
  afterAll(async () => {
    await worker?.close();
    await env?.close();
  });

  it("lists every dead letter in a table, and leaves them in the store", async () => {
    for (let look = 0; look < 2; look += 1) {
      const { code, stdout, stderr } = await deadLetters(["list", ...where()]);
      expect(stderr).toBe("");
      expect(code).toBe(0);
      expect(stdout).toContain("2 dead letter(s)");
      const rows = stdout.split("\n").filter((line) => line.includes(audioId) || line.includes(eventsId));
      expect(rows).toHaveLength(2);
      const audioRow = rows.find((line) => line.includes(audioId)) ?? "";
      expect(audioRow).toMatch(/wrong_environment\s+\S+\s+audio\s+persist-audio\s+tagged environment=elsewhere/);
      const eventsRow = rows.find((line) => line.includes(eventsId)) ?? "";
      expect(eventsRow).toMatch(/invalid_schema\s+\S+\s+events\s+events\s+segments\.0\.start: expected number/);
    }
  });

  it("refuses to replay without being told which", async () => {
    const { code, stderr } = await deadLetters(["replay", ...where()]);
    expect(code).toBe(2);
    expect(stderr).toContain("replay needs --id, --reason, --conversation or --all");
  });

  it("replays one dead letter to its original topic, as it was, and takes it out of the store", async () => {
    const listed = await deadLetters(["list", ...where(), "--json"]);
    const views = JSON.parse(listed.stdout) as { id: string; conversationId: string; topic: string }[];
    const target = views.find((v) => v.conversationId === audioId);
    expect(target?.topic).toBe("audio");

    const replay = await deadLetters(["replay", ...where(), "--id", target?.id ?? "?"]);
    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain(`replayed ${target?.id}`);
    expect(replay.stdout).toContain("1 replayed, 0 kept");

    const [back, ...more] = await pullMessages(env.clients.pubsub, env.resources.subscriptions.persistAudio);
    expect(more).toEqual([]);
    expect(back?.data.equals(audio().data)).toBe(true);
    expect(back?.attributes).toEqual(audio().attributes);
    expect(await pullMessages(env.clients.pubsub, env.resources.subscriptions.events)).toEqual([]);

    const after = await deadLetters(["list", ...where(), "--json"]);
    expect((JSON.parse(after.stdout) as { conversationId: string }[]).map((v) => v.conversationId)).toEqual([eventsId]);
  });

  it("replays by reason to the events topic, and the store is then empty", async () => {
    const replay = await deadLetters(["replay", ...where(), "--reason", "invalid_schema"]);
    expect(replay.code).toBe(0);
    const [back] = await pullMessages(env.clients.pubsub, env.resources.subscriptions.events, { count: 1 });
    expect(back?.attributes).toEqual(events().attributes);
    expect(back?.data.toString()).toBe('{"type":"segments"}');
    const after = await deadLetters(["list", ...where()]);
    expect(after.stdout).toContain("0 dead letter(s)");
  });
});
