/**
 * The property-based fuzzer: generated client traffic, valid and invalid by PROTOCOL.md,
 * against the real ingress, workers and API of a local stack on the emulators.
 *
 * Properties:
 * - sockets: every socket closes with the code the contract names for the first thing it
 *   breaks, or is accepted and everything acknowledged is later visible through the API
 *   unchanged; no input ever gets 1011; acks never go backwards or beyond what was sent;
 * - workers: no worker error repeats on redelivery (a permanent failure twice for the same
 *   message, or any failure five times, fails the run);
 * - the API: no request of any route, method, path parameter, token or header answers a
 *   5xx, and every error is the contract's JSON; a drawn token (any kind, claims, clock,
 *   `kid`) is 401 exactly when the token oracle refuses it, as it is 4401 at the ingress;
 * - the process survives: after every case the ingress and the API still answer.
 *
 * The seed is printed; `FUZZ_SEED=N` replays a run and `FUZZ_RUNS=N` sets its length
 * (`npm run fuzz -- --runs 10000 --seed N`). fast-check shrinks a failing case and prints
 * it: paste it into test/integration/fuzz-regressions.test.ts, where it stays a regular test.
 */
import fc from "fast-check";
import { signAccessToken } from "../../shared/auth";
import { type ApiCase, apiAnswerProblem, apiCaseArbitrary } from "../support/fuzz-api";
import { apiRequest, buildToken, type FuzzTarget, playSocket } from "../support/fuzz-run";
import { type FuzzStack, startFuzzStack } from "../support/fuzz-stack";
import { socketCaseArbitrary, tokenArbitrary, tokenVerifies } from "../support/fuzz-traffic";

const RUNS = Number(process.env.FUZZ_RUNS ?? 40);
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
jest.setTimeout(Math.max(600_000, RUNS * 5_000));

let fuzz: FuzzStack;
let target: FuzzTarget;
const fixture = { conversationId: "", personId: "p-fuzz-fixture", owner: "fuzz-owner" };

beforeAll(async () => {
  fuzz = await startFuzzStack();
  target = fuzz.target;
  // A finalized conversation with audio, segments and an assignment, for the API property.
  const result = await playSocket(target, {
    query: { codec: "pcm16", sample_rate: "8000", uniquify: true, conversation_id: "fx-fuzz-fixture" },
    token: { delivery: "header", alg: "HS256", key: "environment", sub: fixture.owner, exp: "future", nbf: "absent" },
    actions: [
      { audio: { pcmBytes: 4000, seed: 1 } },
      { text: '{"type":"segments","segments":[{"id":"s1","start":0,"end":0.1,"text":"hi"}]}' },
      { text: `{"type":"speaker_assigned","person_id":"${fixture.personId}","segment_ids":["s1"]}` },
      { audio: { pcmBytes: 800, seed: 2 } },
    ],
    end: "finalize",
  });
  fixture.conversationId = result.conversationId ?? "";
});

afterAll(async () => {
  await fuzz?.stop();
});

test("sockets: the contract's close code or everything acked visible, never 1011; workers never repeat an error", async () => {
  console.info(`fuzz sockets: seed ${SEED}, ${RUNS} runs (replay with FUZZ_SEED=${SEED})`);
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(socketCaseArbitrary, { minLength: 1, maxLength: 3 }), async (cases) => {
      await fuzz.socketsHold(cases);
      run += 1;
      if (run % 25 === 0) await fuzz.stillServing();
    }),
    { numRuns: RUNS, seed: SEED },
  );
  await fuzz.stillServing();
  console.info(`fuzz sockets played: ${JSON.stringify(Object.fromEntries([...fuzz.outcomes].sort()))}`);
});

/** encodeURIComponent, or every UTF-8 byte escaped where it refuses (a lone surrogate). */
function percentEncode(raw: string): string {
  try {
    return encodeURIComponent(raw);
  } catch {
    return [...Buffer.from(raw)].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("");
  }
}

function apiPath(c: ApiCase): string {
  const raw =
    "fixture" in c.id ? (c.id.fixture === "conversation" ? fixture.conversationId : fixture.personId) : c.id.raw;
  const id = c.encode ? percentEncode(raw) : raw;
  const path = {
    conversation: `/v1/conversations/${id}`,
    audio: `/v1/conversations/${id}/audio.wav`,
    segments: `/v1/conversations/${id}/segments`,
    person: `/v1/people/${id}`,
    list: "/v1/conversations",
    health: "/healthz",
    other: c.otherPath,
  }[c.route];
  return path;
}

async function apiHolds(c: ApiCase): Promise<void> {
  let token: string | undefined;
  if (c.auth.kind === "owner") token = await signAccessToken(target.tokenKeys, fixture.owner);
  if (c.auth.kind === "stranger") token = await signAccessToken(target.tokenKeys, "fuzz-stranger");
  if (c.auth.kind === "token") token = buildToken(c.auth.token, target.tokenKeys);
  const headers: Record<string, string> = {};
  const query = new URLSearchParams(c.query);
  if (c.auth.kind === "raw") headers.authorization = c.auth.header;
  else if (token !== undefined && c.authInQuery) query.append("access_token", token);
  else if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (c.range !== undefined) headers.range = c.range;
  if (c.ifRange !== undefined) headers["if-range"] = c.ifRange;
  const search = query.toString();
  const path = `${apiPath(c)}${search ? `?${search}` : ""}`;
  let answer: Awaited<ReturnType<typeof apiRequest>>;
  try {
    answer = await apiRequest(target.apiUrl, { method: c.method, path, headers });
  } catch (error) {
    // Node refuses to send some raw paths and headers (unescaped characters): not a server answer.
    if ((error as NodeJS.ErrnoException).code === "ERR_UNESCAPED_CHARACTERS" || (error as Error).name === "TypeError") {
      fc.pre(false);
    }
    throw error;
  }
  const problem = apiAnswerProblem(c.method, answer);
  if (problem !== undefined) {
    throw new Error(`${c.method} ${path} ${problem}\nbody: ${answer.body.toString().slice(0, 300)}`);
  }
}

test("the API: no input answers 5xx, every error is the contract's JSON", async () => {
  expect(fixture.conversationId).not.toBe("");
  console.info(`fuzz API: seed ${SEED}, ${RUNS * 5} runs (replay with FUZZ_SEED=${SEED})`);
  await fc.assert(
    fc.asyncProperty(apiCaseArbitrary, async (c) => {
      await apiHolds(c);
    }),
    { numRuns: RUNS * 5, seed: SEED },
  );
  await fuzz.stillServing();
});

test("the API: a drawn token is 401 exactly when the token oracle refuses it", async () => {
  await fc.assert(
    fc.asyncProperty(tokenArbitrary, async (t) => {
      const token = buildToken(t, target.tokenKeys);
      const inQuery = token !== undefined && t.delivery === "query";
      const answer = await apiRequest(target.apiUrl, {
        method: "GET",
        path: inQuery ? `/v1/conversations?access_token=${encodeURIComponent(token)}` : "/v1/conversations",
        headers: token !== undefined && !inQuery ? { authorization: `Bearer ${token}` } : {},
      });
      // A token that verifies but whose `sub` no store can hold is 400, never 401.
      const verdict = answer.status === 401 ? "refused" : "accepted";
      expect({ t, verdict }).toEqual({ t, verdict: tokenVerifies(t) ? "accepted" : "refused" });
      expect([200, 400, 401]).toContain(answer.status);
    }),
    { numRuns: RUNS * 5, seed: SEED },
  );
});
