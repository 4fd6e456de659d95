/**
 * The product's promise, end to end through the local stack and the client SDK:
 * a conversation that drops its socket again and again stays in the environment it
 * started in, its audio plays back byte-exact, a speaker assigned in the last session to
 * a segment of the first is honoured, and speaker extraction writes samples for both
 * people into that environment's bucket only. The same resume token presented to another
 * environment is refused with 4409 and the environment it is pinned to.
 */
import { connect, TetherError } from "../../client/index";
import { type RunningStack, startLocalStack } from "../../local/stack";
import { signAccessToken } from "../../shared/auth";
import type { EnvironmentName } from "../../shared/environment";
import { parseEnvironmentName } from "../../shared/environment";
import { createLogger } from "../../shared/logger";
import { decodePcm16MonoWav } from "../../shared/wav";
import { loadVoiceFixtures } from "../support/extract-voices";
import { eventually as poll } from "../support/poll";
import { runningEmulatorEndpoints, uniqueEnvironmentName } from "../support/test-environment";

const SAMPLE_RATE = 16000;
const BYTES_PER_SECOND = SAMPLE_RATE * 2;

/** The shared wait; a probe that throws (a server still starting) counts as "not yet". */
const eventually = <T>(probe: () => Promise<T | undefined>, what: string) =>
  poll(probe, what, { timeoutMs: 45_000, intervalMs: 250, retryErrors: true });

/** Twelve seconds of one fixture voice: four three-second clips back to back. */
function voiceTrack(voice: string): Buffer {
  const clips = loadVoiceFixtures().filter((f) => f.voice === voice);
  if (clips.length < 4 || clips.some((c) => c.sampleRate !== SAMPLE_RATE))
    throw new Error(`fixture voice ${voice} missing`);
  return Buffer.concat(clips.slice(0, 4).map((c) => c.pcm));
}

describe("a conversation across reconnects, end to end", () => {
  let stack: RunningStack;
  const staging = parseEnvironmentName(uniqueEnvironmentName("stg"));
  const prod = parseEnvironmentName(uniqueEnvironmentName("prd"));

  beforeAll(async () => {
    stack = await startLocalStack({
      environments: [staging, prod],
      host: "127.0.0.1",
      basePort: 0,
      emulators: { existing: runningEmulatorEndpoints() },
      chunkSeconds: 1,
      logger: createLogger({ level: "silent" }),
    });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  function env(name: EnvironmentName) {
    const state = stack.state.envs[name];
    if (!state) throw new Error(`${name} is not in the stack`);
    return state;
  }

  async function api(name: EnvironmentName, path: string, token: string): Promise<Response> {
    return await fetch(`${env(name).api_url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  }

  it("stays in its environment, plays back byte-exact and extracts both speakers", async () => {
    const stagingToken = await signAccessToken(env(staging).token_secret, "user-e2e");
    // Person A speaks the first 12 s, person B the next 12 s.
    const audio = Buffer.concat([voiceTrack("kal"), voiceTrack("slt")]);
    expect(audio.length).toBe(24 * BYTES_PER_SECOND);

    const session = await connect({
      url: env(staging).ingress_url,
      token: stagingToken,
      codec: "pcm16",
      sampleRate: SAMPLE_RATE,
      backoff: { initialDelayMs: 10, maxDelayMs: 50 },
    });
    const readies: number[] = []; // resumes after the first `ready`
    session.on("ready", (ready) => readies.push(ready.position));
    // The banner reads what the server said, not a guess from the URL.
    expect(session.environment).toBe(staging);

    const frame = 3200; // 100 ms
    let sentSegments = false;
    for (let offset = 0; offset < audio.length; offset += frame) {
      await session.write(audio.subarray(offset, offset + frame));
      const second = (offset + frame) / BYTES_PER_SECOND;
      if (!sentSegments && second >= 1) {
        session.sendSegments([
          {
            id: "seg-a",
            start: 0,
            end: 12,
            text: "first speaker",
            speaker: "SPEAKER_00",
            is_user: true,
            person_id: null,
          },
          {
            id: "seg-b",
            start: 12,
            end: 24,
            text: "second speaker",
            speaker: "SPEAKER_01",
            is_user: false,
            person_id: "person-b",
          },
        ]);
        sentSegments = true;
      }
      // Drop the socket every 5.3 s of audio: mid-chunk, so in-flight audio must be re-sent.
      if (Math.floor(second / 5.3) !== Math.floor((second - frame / BYTES_PER_SECOND) / 5.3)) {
        const resumed = new Promise((resolve) => session.once("ready", resolve));
        session.simulateDisconnect();
        await resumed;
      }
    }
    // In the last session, name the speaker of a segment sent in the first.
    session.assignSpeaker("person-a", ["seg-a"]);
    const finalized = await session.finalize();
    expect(finalized.position).toBe(audio.length);
    expect(session.stats.reconnects).toBeGreaterThanOrEqual(4);
    expect(session.environment).toBe(staging);
    const conversationId = session.conversationId;

    const status = await eventually(async () => {
      const response = await api(staging, `/v1/conversations/${conversationId}`, stagingToken);
      const body = (await response.json()) as { status: string; extraction: { status: string } };
      return body.status === "finalized" && body.extraction.status === "done" ? body : undefined;
    }, "finalization and extraction");
    expect(status).toMatchObject({
      id: conversationId,
      environment: staging,
      codec: "pcm16",
      sample_rate: SAMPLE_RATE,
      position: audio.length,
      duration_ms: 24_000,
      segments: 2,
    });
    const sessions = (status as unknown as { sessions: unknown[] }).sessions;
    expect(sessions.length).toBe(1 + readies.length); // the first socket, then one per resume
    expect(sessions.length).toBeGreaterThanOrEqual(5);
    const people = (status as unknown as { extraction: { people: Array<{ person_id: string; status: string }> } })
      .extraction.people;
    expect(people.map((p) => [p.person_id, p.status]).sort()).toEqual([
      ["person-a", "extracted"],
      ["person-b", "extracted"],
    ]);

    // Byte-exact playback of everything sent, across every reconnect.
    const wav = Buffer.from(
      await (await api(staging, `/v1/conversations/${conversationId}/audio.wav`, stagingToken)).arrayBuffer(),
    );
    const decoded = decodePcm16MonoWav(wav);
    expect(decoded.sampleRate).toBe(SAMPLE_RATE);
    expect(Buffer.from(decoded.pcm).equals(audio)).toBe(true);

    const segments = (await (
      await api(staging, `/v1/conversations/${conversationId}/segments`, stagingToken)
    ).json()) as {
      segments: Array<{ id: string; person_id: string | null }>;
    };
    expect(segments.segments.map((s) => [s.id, s.person_id])).toEqual([
      ["seg-a", "person-a"],
      ["seg-b", "person-b"],
    ]);

    // Samples live in this environment's bucket, under people/{person_id}/, and nowhere else.
    const stagingClients = stack.runtimes.get(staging)?.clients;
    const prodClients = stack.runtimes.get(prod)?.clients;
    if (!stagingClients || !prodClients) throw new Error("runtimes missing");
    for (const person of ["person-a", "person-b"]) {
      const profile = (await (await api(staging, `/v1/people/${person}`, stagingToken)).json()) as {
        samples: Array<{ uri: string; conversation_id: string }>;
      };
      expect(profile.samples.length).toBeGreaterThanOrEqual(1);
      for (const sample of profile.samples) {
        expect(sample.conversation_id).toBe(conversationId);
        expect(sample.uri.startsWith(`gs://${stagingClients.bucket.name}/people/${person}/`)).toBe(true);
      }
    }
    const [prodObjects] = await prodClients.bucket.getFiles();
    expect(
      prodObjects.map((f) => f.name).filter((n) => n.startsWith("conversations/") || n.startsWith("people/")),
    ).toEqual([]);

    // The conversation does not exist in prod, and its resume token is refused there.
    const prodToken = await signAccessToken(env(prod).token_secret, "user-e2e");
    expect((await api(prod, `/v1/conversations/${conversationId}`, prodToken)).status).toBe(404);
    const resumeToken = session.resumeToken;
    expect(resumeToken).toBeDefined();
    const wrong = await connect({ url: env(prod).ingress_url, token: prodToken, resumeToken }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(wrong).toBeInstanceOf(TetherError);
    expect(wrong).toMatchObject({
      code: "wrong_environment",
      details: { closeCode: 4409, expectedEnvironment: staging, environment: prod },
    });
  });
});
