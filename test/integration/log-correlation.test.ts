/**
 * One conversation's life in the logs, through the local stack: the ingress's lines and
 * every worker's lines carry the same Cloud Logging trace (derived from environment and
 * conversation id, never passed along), and the lines operations count match the
 * log-based metric filters infra deploys (infra/monitoring.ts) for their own environment
 * and not for the other one.
 */
import { connect, TetherError } from "../../client/index";
import { speechLikePcm } from "../../client/speech-like";
import { logMetricFilter, specOf, type Writer } from "../../infra/monitoring";
import { type RunningStack, startLocalStack } from "../../local/stack";
import { signAccessToken } from "../../shared/auth";
import {
  type EnvironmentName,
  environmentResources,
  localProjectId,
  parseEnvironmentName,
} from "../../shared/environment";
import { conversationTraceId, TRACE_FIELD } from "../../shared/logger";
import { matchesFilter } from "../support/log-query";
import { eventually as poll } from "../support/poll";
import { onRunningEmulators, uniqueEnvironmentName } from "../support/test-environment";
import { captureLogs, type LogLine } from "../support/workers-logs";

const SAMPLE_RATE = 16000;

/** The deployable a line came from, by the `component` its logger carries. */
const WRITERS: Record<string, Writer> = {
  ingress: "ingress",
  persistAudio: "persistAudio",
  "persist-audio": "persistAudio",
  processEvents: "processEvents",
  events: "processEvents",
  extractSpeakers: "extractSpeakers",
  "extract-speakers": "extractSpeakers",
};

/** The shared wait; a probe that throws (a server still starting) counts as "not yet". */
const eventually = <T>(probe: () => Promise<T | undefined>, what: string) =>
  poll(probe, what, { timeoutMs: 60_000, intervalMs: 250, retryErrors: true });

describe("logs of one conversation across the ingress and the workers", () => {
  let stack: RunningStack;
  const logs = captureLogs();
  const staging = parseEnvironmentName(uniqueEnvironmentName("stg"));
  const prod = parseEnvironmentName(uniqueEnvironmentName("prd"));
  let conversationId: string;
  let refusal: TetherError | undefined;

  const env = (name: EnvironmentName) => {
    const state = stack.state.envs[name];
    if (!state) throw new Error(`${name} is not in the stack`);
    return state;
  };
  const resources = (name: EnvironmentName) => environmentResources(name, localProjectId(name));
  const writerOf = (line: LogLine) => WRITERS[String(line.component)];
  /** The line as Cloud Logging would store it: under its deployable's Cloud Run service. */
  const asEntry = (name: EnvironmentName, line: LogLine) => {
    const writer = writerOf(line);
    const { services, functions } = resources(name).deployables;
    const service = writer === undefined ? "unknown" : writer === "ingress" ? services.ingress : functions[writer];
    return { resource: { type: "cloud_run_revision", labels: { service_name: service } }, jsonPayload: line };
  };

  beforeAll(async () => {
    stack = await startLocalStack({
      environments: [staging, prod],
      ...onRunningEmulators(),
      chunkSeconds: 1,
      logger: logs.logger,
    });
    const token = await signAccessToken(env(staging).token_secret, "user-trace");
    const session = await connect({
      url: env(staging).ingress_url,
      token,
      codec: "pcm16",
      sampleRate: SAMPLE_RATE,
      backoff: { initialDelayMs: 10, maxDelayMs: 50 },
    });
    conversationId = session.conversationId;
    const audio = Buffer.concat([speechLikePcm(6, SAMPLE_RATE, 3), speechLikePcm(6, SAMPLE_RATE, 5)]);
    session.sendSegments([
      { id: "s1", start: 0, end: 6, text: "a", speaker: "A", is_user: true, person_id: "person-a" },
      { id: "s2", start: 6, end: 12, text: "b", speaker: "B", is_user: false, person_id: "person-b" },
    ]);
    for (let offset = 0; offset < audio.length; offset += 3200) {
      await session.write(audio.subarray(offset, offset + 3200));
      if (offset === 3200 * 50) {
        const resumed = new Promise((resolve) => session.once("ready", resolve));
        session.simulateDisconnect();
        await resumed;
      }
    }
    await session.finalize();
    await eventually(async () => {
      const response = await fetch(`${env(staging).api_url}/v1/conversations/${conversationId}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const body = (await response.json()) as { extraction: { status: string } };
      return body.extraction.status === "done" ? true : undefined;
    }, "extraction to finish");
    // The same conversation's resume token, presented to prod.
    const prodToken = await signAccessToken(env(prod).token_secret, "user-trace");
    refusal = await connect({ url: env(prod).ingress_url, token: prodToken, resumeToken: session.resumeToken }).then(
      () => undefined,
      (error: unknown) => (error instanceof TetherError ? error : undefined),
    );
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  });

  it("carries one trace, computed the same by the ingress and every worker", () => {
    // The HTTP API's request lines are not part of the pipeline's trace: only the ingress's and the workers'.
    const own = logs.lines.filter(
      (l) => l.conversation_id === conversationId && l.environment === staging && writerOf(l) !== undefined,
    );
    const expected = `projects/${localProjectId(staging)}/traces/${conversationTraceId(staging, conversationId)}`;
    expect(expected).toMatch(/^projects\/[a-z0-9-]+\/traces\/[0-9a-f]{32}$/);
    expect(conversationTraceId(prod, conversationId)).not.toBe(conversationTraceId(staging, conversationId));
    const writers = new Set(own.map(writerOf));
    expect([...writers].sort()).toEqual(["extractSpeakers", "ingress", "persistAudio", "processEvents"]);
    const untraced = own.filter((l) => l[TRACE_FIELD] !== expected).map((l) => `${String(l.component)}: ${l.message}`);
    expect(untraced).toEqual([]);
    // Each service wrote several lines under it.
    for (const writer of writers) expect(own.filter((l) => writerOf(l) === writer).length).toBeGreaterThan(0);
  });

  it("writes the lines the metrics count with the fields their filters read, each for its own environment only", () => {
    expect(refusal).toMatchObject({ code: "wrong_environment", details: { closeCode: 4409 } });
    const count = (name: EnvironmentName, key: Parameters<typeof specOf>[0], counted: EnvironmentName) =>
      logs.lines.filter(
        (l) =>
          l.environment === counted &&
          matchesFilter(logMetricFilter(resources(name), specOf(key)), asEntry(counted, l)),
      ).length;

    // prod's ingress refused the staging token with 4409: prod's metric counts it, staging's does not.
    expect(count(prod, "wrongEnvironmentRefusals", prod)).toBe(1);
    expect(count(staging, "wrongEnvironmentRefusals", prod)).toBe(0);
    expect(count(staging, "wrongEnvironmentRefusals", staging)).toBe(0);
    // 12 s in 1 s chunks, each stored once.
    expect(count(staging, "chunksStored", staging)).toBe(12);
    expect(count(prod, "chunksStored", staging)).toBe(0);
    // One extraction run (done) and one line per person.
    expect(count(staging, "extractionRuns", staging)).toBeGreaterThanOrEqual(1);
    expect(count(staging, "extractionPeople", staging)).toBeGreaterThanOrEqual(2);
    expect(count(staging, "deadLetters", staging)).toBe(0);
    expect(count(staging, "publishFailures", staging)).toBe(0);
  });
});
