/**
 * `npm start` runs each worker in a process of its own (`workerProcesses`) and replaces one
 * that dies, as Cloud Run replaces a crashed instance: a worker process SIGKILLed while a
 * conversation streams is restarted (with a log line naming it), its subscription is pointed
 * at the replacement, and the conversation still ends finalized with byte-exact audio.
 */
import { connect } from "../../client";
import { type RunningStack, startLocalStack } from "../../local/stack";
import { signAccessToken } from "../../shared/auth";
import { parseEnvironmentName } from "../../shared/environment";
import { decodePcm16MonoWav } from "../../shared/wav";
import { testPcm, throttle } from "../support/ingress-audio";
import { eventually, untilFinalized } from "../support/poll";
import { onRunningEmulators, uniqueEnvironmentName } from "../support/test-environment";
import { captureLogs } from "../support/workers-logs";

const SAMPLE_RATE = 16000;
const VICTIM = "persistAudio";

describe("startLocalStack with workerProcesses", () => {
  const env = parseEnvironmentName(uniqueEnvironmentName("wrk"));
  let stack: RunningStack | undefined;
  afterAll(async () => {
    await stack?.stop();
  });

  it("replaces a worker process SIGKILLed mid-stream, and the conversation finalizes byte-exact", async () => {
    const logs = captureLogs("warn"); // the worker processes log at this level too
    stack = await startLocalStack({
      environments: [env],
      ...onRunningEmulators(),
      chunkSeconds: 1,
      workerProcesses: true,
      logger: logs.logger,
    });
    const running = stack;
    const state = running.state.envs[env];
    if (!state) throw new Error("no environment");
    const victim = running.workerPids(env).get(VICTIM);
    if (victim === undefined) throw new Error(`no ${VICTIM} process`);

    const token = await signAccessToken(state.token_secret, "user-worker-restart");
    const headers = { authorization: `Bearer ${token}` };
    const session = await connect({ url: state.ingress_url, token, codec: "pcm16", sampleRate: SAMPLE_RATE });
    const audio = testPcm(SAMPLE_RATE * 2 * 6 + 100, 27); // 6 s of 1 s chunks, the last one short
    const half = SAMPLE_RATE * 2 * 3;
    await session.write(audio.subarray(0, half));
    await throttle(session, 0);
    const view = () => fetch(`${state.api_url}/v1/conversations/${session.conversationId}`, { headers });
    // The victim has stored audio, so it was serving; what follows can only be stored by its replacement.
    await eventually(
      async () => (((await (await view()).json()) as { duration_ms?: number }).duration_ms ?? 0) > 0,
      "the first chunks to be stored",
    );
    process.kill(victim, "SIGKILL");
    for (let offset = half; offset < audio.length; offset += 3200) {
      await session.write(audio.subarray(offset, offset + 3200));
    }
    const result = await session.finalize();
    expect(result.position).toBe(audio.length);

    const replacement = await eventually(() => {
      const pid = running.workerPids(env).get(VICTIM);
      return pid !== undefined && pid !== victim ? pid : undefined;
    }, "a replacement worker process");
    expect(() => process.kill(replacement, 0)).not.toThrow();
    expect(logs.find("ERROR", { worker: VICTIM, pid: victim, signal: "SIGKILL" })).toHaveLength(1);
    expect(logs.find("WARNING", { worker: VICTIM, pid: replacement, previous_pid: victim })).toHaveLength(1);

    await untilFinalized(view);
    const wav = await fetch(`${state.api_url}/v1/conversations/${session.conversationId}/audio.wav`, { headers });
    expect(wav.status).toBe(200);
    expect(decodePcm16MonoWav(Buffer.from(await wav.arrayBuffer())).pcm.equals(audio)).toBe(true);

    await running.stop();
    stack = undefined;
    expect(() => process.kill(replacement, 0)).toThrow();
  });
});
