/**
 * Cases the fuzzer (test/integration/fuzz.test.ts) found or that sit on its edges, kept
 * as regular tests: each replays exactly the shrunk case through the same runner and
 * checks, against the real ingress, workers and API.
 */

import { apiAnswerProblem } from "../support/fuzz-api";
import { apiRequest } from "../support/fuzz-run";
import { type FuzzStack, startFuzzStack } from "../support/fuzz-stack";
import type { SocketCase, TokenCase } from "../support/fuzz-traffic";

let fuzz: FuzzStack;
beforeAll(async () => {
  fuzz = await startFuzzStack();
});
afterAll(async () => {
  await fuzz?.stop();
});

const token: TokenCase = {
  delivery: "header",
  alg: "HS256",
  key: "environment",
  sub: "user-r",
  exp: "future",
  nbf: "absent",
};
const socket = (actions: SocketCase["actions"], end: SocketCase["end"] = "finalize"): SocketCase => ({
  query: { codec: "pcm16", sample_rate: "8000", uniquify: false },
  token,
  actions,
  end,
});

describe("found by the fuzzer", () => {
  it("a segment whose text holds a lone surrogate (valid JSON, not storable as UTF-8)", async () => {
    await fuzz.socketsHold([
      socket([
        { audio: { pcmBytes: 400, seed: 1 } },
        { text: '{"type":"segments","segments":[{"id":"s1","start":0,"end":1,"text":"a\\ud800b"}]}' },
        { audio: { pcmBytes: 400, seed: 2 } },
      ]),
    ]);
  });

  it("a segment whose speaker is a lone surrogate", async () => {
    await fuzz.socketsHold([
      socket([
        { audio: { pcmBytes: 400, seed: 1 } },
        { text: '{"type":"segments","segments":[{"id":"s1","start":0,"end":1,"speaker":"\\udc00"}]}' },
      ]),
    ]);
  });

  it.each(["GET", "HEAD"])(
    "%s with a request target Node's HTTP parser refuses (no leading '/') answers the contract's JSON 400",
    async (method) => {
      const answer = await apiRequest(fuzz.target.apiUrl, { method, path: "?limit=1" });
      expect(answer.status).toBe(400);
      expect(apiAnswerProblem(method, answer)).toBeUndefined();
    },
  );
});

describe("found by the fuzzer: a preflight from an origin the API does not serve", () => {
  it("answers OPTIONS on an API path with the contract's JSON error", async () => {
    const answer = await apiRequest(fuzz.target.apiUrl, { method: "OPTIONS", path: "/v1/conversations/A" });
    expect(apiAnswerProblem("OPTIONS", answer)).toBeUndefined();
  });
});
