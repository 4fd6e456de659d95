/**
 * End to end through the local stack: a client streams one conversation over three
 * sockets (resuming twice) to the real ingress; the workers persist it and its events;
 * the API plays it back as one WAV and applies a speaker assignment sent in session 3 to
 * a segment sent in session 1.
 */
import { type RunningStack, startLocalStack } from "../../local/stack";
import { signAccessToken } from "../../shared/auth";
import { parseEnvironmentName } from "../../shared/environment";
import { decodePcm16MonoWav } from "../../shared/wav";
import { eventually } from "../support/poll";
import { onRunningEmulators, uniqueEnvironmentName } from "../support/test-environment";
import { captureLogs } from "../support/workers-logs";
import { pcm16Noise } from "../support/workers-messages";
import { ProtocolSocket } from "../support/workers-socket";

describe("ingress -> workers -> API", () => {
  let stack: RunningStack;
  const environment = parseEnvironmentName(uniqueEnvironmentName("pipe"));

  beforeAll(async () => {
    stack = await startLocalStack({
      environments: [environment],
      ...onRunningEmulators(),
      chunkSeconds: 0.25,
      logger: captureLogs().logger,
    });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it("plays back a conversation streamed over three sessions as one WAV, with cross-session assignments applied", async () => {
    const state = stack.state.envs[environment];
    if (!state) throw new Error("environment missing from the stack state");
    const token = await signAccessToken(state.token_secret, "user-e2e");
    const audio = pcm16Noise(26_000, 11); // 52,000 bytes: six 8,000-byte chunks and a 4,000-byte final one
    const url = `${state.ingress_url}?codec=pcm16&sample_rate=16000`;

    // Session 1: the first 20,000 bytes and two segments, then the network drops.
    const first = await ProtocolSocket.open(url, token);
    const ready1 = await first.next("ready");
    expect(ready1).toMatchObject({ position: 0, position_unit: "byte", chunk_size: 8000 });
    const conversationId = ready1.conversation_id as string;
    first.sendAudio(audio.subarray(0, 20_000));
    first.sendJson({
      type: "segments",
      segments: [
        { id: "s1", start: 0.0, end: 0.4, text: "hello", speaker: "SPEAKER_00", is_user: true, person_id: null },
        { id: "s2", start: 0.4, end: 0.6, text: "there", speaker: "SPEAKER_01", is_user: false, person_id: null },
      ],
    });
    await first.next("ack", (m) => (m.position as number) >= 16_000);
    first.terminate();

    // Session 2: resumes at the durable position, sends up to 40,000 bytes, drops again.
    const second = await ProtocolSocket.open(`${url}&resume_token=${ready1.resume_token as string}`, token);
    const ready2 = await second.next("ready");
    const resumeAt2 = ready2.position as number;
    expect(resumeAt2).toBeGreaterThanOrEqual(16_000);
    second.sendAudio(audio.subarray(resumeAt2, 40_000));
    second.sendJson({
      type: "segments",
      segments: [
        { id: "s3", start: 1.0, end: 1.2, text: "again", speaker: "SPEAKER_00", is_user: true, person_id: null },
      ],
    });
    await second.next("ack", (m) => (m.position as number) >= 40_000);
    second.terminate();

    // Session 3: the rest, an assignment for a segment of session 1, finalize.
    const third = await ProtocolSocket.open(`${url}&resume_token=${ready2.resume_token as string}`, token);
    const ready3 = await third.next("ready");
    third.sendAudio(audio.subarray(ready3.position as number));
    third.sendJson({ type: "speaker_assigned", person_id: "p-e2e", segment_ids: ["s1"] });
    third.sendJson({ type: "finalize" });
    expect(await third.next("finalized")).toMatchObject({ conversation_id: conversationId, position: audio.length });

    const get = (path: string) => fetch(`${state.api_url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    const status = await eventually(async () => {
      const body = (await (await get(`/v1/conversations/${conversationId}`)).json()) as { status: string };
      return body.status === "finalized" ? body : undefined;
    }, "the conversation to be finalized");
    expect(status).toMatchObject({
      id: conversationId,
      environment,
      codec: "pcm16",
      sample_rate: 16000,
      position: audio.length,
      duration_ms: (audio.length / 2 / 16000) * 1000,
      segments: 3,
    });
    expect((status as unknown as { sessions: unknown[] }).sessions).toHaveLength(3);

    const wav = Buffer.from(await (await get(`/v1/conversations/${conversationId}/audio.wav`)).arrayBuffer());
    expect(decodePcm16MonoWav(wav).pcm.equals(audio)).toBe(true);

    const segments = (await (await get(`/v1/conversations/${conversationId}/segments`)).json()) as {
      segments: Array<{ id: string; person_id: string | null }>;
    };
    expect(segments.segments.map((s) => [s.id, s.person_id])).toEqual([
      ["s1", "p-e2e"],
      ["s2", null],
      ["s3", null],
    ]);
  });
});
