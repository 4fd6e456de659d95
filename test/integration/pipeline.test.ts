/**
 * The product's promise, end to end through the local stack and the client SDK:
 * a conversation that drops its socket again and again stays in the environment it
 * started in, its audio plays back byte-exact, a speaker assigned in the last session to
 * a segment of the first is honoured, and speaker extraction writes samples for both
 * people into that environment's bucket only. The same resume token presented to another
 * environment is refused with 4409 and the environment it is pinned to. Person ids are
 * each user's own: two users' `p-same` are two profiles, read and deleted apart.
 */
import { connect, TetherError } from "../../client/index";
import { type RunningStack, startLocalStack } from "../../local/stack";
import { signAccessToken } from "../../shared/auth";
import type { EnvironmentName } from "../../shared/environment";
import { parseEnvironmentName } from "../../shared/environment";
import { userKey } from "../../shared/firestore-schema";
import { createLogger } from "../../shared/logger";
import { personPrefix } from "../../shared/storage-paths";
import { decodePcm16MonoWav } from "../../shared/wav";
import { loadVoiceFixtures } from "../support/extract-voices";
import { eventually as poll } from "../support/poll";
import { onRunningEmulators, uniqueEnvironmentName } from "../support/test-environment";

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
      ...onRunningEmulators(),
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

  async function api(name: EnvironmentName, path: string, token: string, method = "GET"): Promise<Response> {
    return await fetch(`${env(name).api_url}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
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

  it("keeps two users' profiles of one person id apart: each extracts and reads its own; deleting one leaves the other", async () => {
    const bucket = stack.runtimes.get(staging)?.clients.bucket;
    if (!bucket) throw new Error("runtime missing");
    const users = await Promise.all(
      [
        ["user-same-a", "kal"],
        ["user-same-b", "slt"],
      ].map(async ([user, voice]) => ({
        user: user as string,
        audio: voiceTrack(voice as string).subarray(0, 9 * BYTES_PER_SECOND),
        token: await signAccessToken(env(staging).token_secret, user as string),
      })),
    );
    // Each user streams 9 s of one voice (enough for a sample) and names its speaker `p-same`.
    const ids = await Promise.all(
      users.map(async ({ audio, token }) => {
        const session = await connect({
          url: env(staging).ingress_url,
          token,
          codec: "pcm16",
          sampleRate: SAMPLE_RATE,
        });
        await session.write(audio);
        session.sendSegments([
          { id: "s1", start: 0, end: 9, text: "", speaker: null, is_user: false, person_id: null },
        ]);
        session.assignSpeaker("p-same", ["s1"]);
        await session.finalize();
        return session.conversationId;
      }),
    );
    for (const [i, { token }] of users.entries()) {
      const extraction = await eventually(async () => {
        const body = (await (await api(staging, `/v1/conversations/${ids[i]}`, token)).json()) as {
          extraction: { status: string; people: unknown[] };
        };
        return body.extraction.status === "done" ? body.extraction : undefined;
      }, `extraction of user ${i}'s conversation`);
      expect(extraction.people).toMatchObject([{ person_id: "p-same", status: "extracted" }]);
    }
    const profileOf = async (token: string) => {
      const answer = await api(staging, "/v1/people/p-same", token);
      if (answer.status !== 200) return answer.status;
      return (await answer.json()) as { samples: Array<{ uri: string; conversation_id: string }> };
    };
    const objectsOf = async (user: string) =>
      (await bucket.getFiles({ prefix: personPrefix("p-same", userKey(user)) }))[0].map((f) => f.name).sort();
    for (const [i, { user, token }] of users.entries()) {
      const profile = await profileOf(token);
      if (typeof profile === "number") throw new Error(`GET /v1/people/p-same as ${user} answered ${profile}`);
      expect(profile.samples.length).toBeGreaterThanOrEqual(1);
      expect(profile.samples.map((s) => s.conversation_id)).toEqual(profile.samples.map(() => ids[i]));
      // Under `people/p-same/` (PROTOCOL section 4), each user's in a scope of their own.
      const objects = await objectsOf(user);
      expect(profile.samples.map((s) => s.uri.replace(`gs://${bucket.name}/`, "")).sort()).toEqual(objects);
      for (const name of objects) expect(name.startsWith("people/p-same/")).toBe(true);
    }

    const [a, b] = users as [(typeof users)[number], (typeof users)[number]];
    const before = await profileOf(b.token);
    expect((await api(staging, "/v1/people/p-same", a.token, "DELETE")).status).toBe(202);
    await eventually(async () => ((await profileOf(a.token)) === 404 ? true : undefined), "user A's p-same to go");
    expect(await objectsOf(a.user)).toEqual([]);
    expect(await profileOf(b.token)).toEqual(before);
    expect((await objectsOf(b.user)).length).toBeGreaterThanOrEqual(1);
  });
});
