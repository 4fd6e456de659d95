/**
 * The end-to-end conversation of test/integration/pipeline.test.ts, streamed by the SDK's
 * browser bundle (client/build/bundle.ts, as shipped in client/dist/browser.mjs) in headless
 * Chromium: the native WebSocket, the token in `Sec-WebSocket-Protocol`, a socket dropped
 * every 5.3 s of audio. It stays in its environment, plays back byte-exact, a speaker
 * assigned in the last socket to a segment of the first is honoured, both speakers are
 * extracted, and its resume token is refused by the other environment with 4409.
 */
import type { Page } from "playwright-core";
import { bundleBrowserSdk } from "../../client/build/bundle";
import { signAccessToken } from "../../shared/auth";
import { decodePcm16MonoWav } from "../../shared/wav";
import { loadVoiceFixtures } from "../support/extract-voices";
import { eventually as poll } from "../support/poll";
import { type BrowserStack, type LaunchedBrowser, launchChromium, startBrowserStack } from "./support";

const SAMPLE_RATE = 16000;
const BYTES_PER_SECOND = SAMPLE_RATE * 2;

function voiceTrack(voice: string): Buffer {
  const clips = loadVoiceFixtures().filter((f) => f.voice === voice);
  if (clips.length < 4 || clips.some((c) => c.sampleRate !== SAMPLE_RATE))
    throw new Error(`fixture voice ${voice} missing`);
  return Buffer.concat(clips.slice(0, 4).map((c) => c.pcm));
}

/** The shared wait; a probe that throws (a server still starting) counts as "not yet". */
const eventually = <T>(probe: () => Promise<T | undefined>, what: string) =>
  poll(probe, what, { timeoutMs: 60_000, intervalMs: 250, retryErrors: true });

interface PageRun {
  conversationId: string;
  environment: string;
  finalizedPosition: number;
  reconnects: number;
  resumes: number;
  resumeToken: string;
}

/** What the page's `window.tether` (the bundle's exports) is used for here. */
type Sdk = typeof import("../../client/browser/index");

describe("the pipeline's conversation through the SDK's browser bundle", () => {
  let stack: BrowserStack;
  let chromium: LaunchedBrowser;
  let page: Page;

  const envState = (name: string) => {
    const state = stack.stack.state.envs[name];
    if (!state) throw new Error(`${name} is not in the stack`);
    return state;
  };

  beforeAll(async () => {
    stack = await startBrowserStack(["bsa", "bsb"]);
    chromium = await launchChromium();
    page = await chromium.context.newPage();
    await page.goto(stack.consoleUrl);
    const bundle = await bundleBrowserSdk();
    // The bundle becomes `window.tether`, imported as the ES module it is. (A string, so that
    // jest's transform does not rewrite the page's `import()`.)
    await page.evaluate(`(async () => {
      const url = URL.createObjectURL(new Blob([${JSON.stringify(new TextDecoder().decode(bundle.code))}], { type: "text/javascript" }));
      window.tether = await import(url);
    })()`);
  }, 180_000);

  afterAll(async () => {
    await chromium?.close();
    await stack?.stop();
  });

  it("stays in its environment, plays back byte-exact and extracts both speakers", async () => {
    const [staging, prod] = stack.envs;
    const token = await signAccessToken(envState(staging).token_secret, "user-e2e");
    const audio = Buffer.concat([voiceTrack("kal"), voiceTrack("slt")]);
    // Every socket the page opens: the access token must be in none of their URLs.
    const socketUrls: string[] = [];
    page.on("websocket", (socket) => socketUrls.push(socket.url()));

    const run = await page.evaluate(
      async ({ url, token, audioBase64, bytesPerSecond }): Promise<PageRun> => {
        const sdk = (window as unknown as { tether: Sdk }).tether;
        const audio = Uint8Array.from(atob(audioBase64), (c) => c.charCodeAt(0));
        const session = await sdk.connect({
          url,
          token,
          codec: "pcm16",
          sampleRate: 16000,
          backoff: { initialDelayMs: 10, maxDelayMs: 50 },
        });
        let resumes = 0;
        session.on("ready", () => {
          resumes += 1;
        });
        const frame = 3200;
        let sentSegments = false;
        for (let offset = 0; offset < audio.length; offset += frame) {
          await session.write(audio.subarray(offset, offset + frame));
          const second = (offset + frame) / bytesPerSecond;
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
          if (Math.floor(second / 5.3) !== Math.floor((second - frame / bytesPerSecond) / 5.3)) {
            const resumed = new Promise((resolve) => session.once("ready", resolve));
            session.simulateDisconnect();
            await resumed;
          }
        }
        session.assignSpeaker("person-a", ["seg-a"]);
        const finalized = await session.finalize();
        return {
          conversationId: session.conversationId,
          environment: session.environment,
          finalizedPosition: finalized.position,
          reconnects: session.stats.reconnects,
          resumes,
          resumeToken: session.resumeToken ?? "",
        };
      },
      {
        url: envState(staging).ingress_url,
        token,
        audioBase64: audio.toString("base64"),
        bytesPerSecond: BYTES_PER_SECOND,
      },
    );
    expect(socketUrls.length).toBeGreaterThan(1);
    for (const url of socketUrls) {
      expect(url).not.toContain(token);
      expect(new URL(url).searchParams.has("access_token")).toBe(false);
    }
    expect(run.environment).toBe(staging);
    expect(run.finalizedPosition).toBe(audio.length);
    expect(run.reconnects).toBeGreaterThanOrEqual(4);

    const api = (env: string, path: string, bearer: string) =>
      fetch(`${envState(env).api_url}${path}`, { headers: { authorization: `Bearer ${bearer}` } });
    const status = await eventually(async () => {
      const body = (await (await api(staging, `/v1/conversations/${run.conversationId}`, token)).json()) as {
        status: string;
        sessions: unknown[];
        extraction: { status: string; people: Array<{ person_id: string; status: string }> };
      };
      return body.status === "finalized" && body.extraction.status === "done" ? body : undefined;
    }, "finalization and extraction");
    expect(status.sessions.length).toBe(1 + run.reconnects);
    expect(status.extraction.people.map((p) => [p.person_id, p.status]).sort()).toEqual([
      ["person-a", "extracted"],
      ["person-b", "extracted"],
    ]);

    const wav = Buffer.from(
      await (await api(staging, `/v1/conversations/${run.conversationId}/audio.wav`, token)).arrayBuffer(),
    );
    expect(Buffer.from(decodePcm16MonoWav(wav).pcm).equals(audio)).toBe(true);
    const segments = (await (await api(staging, `/v1/conversations/${run.conversationId}/segments`, token)).json()) as {
      segments: Array<{ id: string; person_id: string | null }>;
    };
    expect(segments.segments.map((s) => [s.id, s.person_id])).toEqual([
      ["seg-a", "person-a"],
      ["seg-b", "person-b"],
    ]);

    // Not in the other environment; its resume token is refused there with where it belongs.
    const prodToken = await signAccessToken(envState(prod).token_secret, "user-e2e");
    expect((await api(prod, `/v1/conversations/${run.conversationId}`, prodToken)).status).toBe(404);
    const refusal = await page.evaluate(
      async ({ url, token, resumeToken }) => {
        const sdk = (window as unknown as { tether: Sdk }).tether;
        try {
          await sdk.connect({ url, token, resumeToken });
          return undefined;
        } catch (error) {
          const e = error as InstanceType<Sdk["TetherError"]>;
          return { isTetherError: e instanceof sdk.TetherError, code: e.code, details: e.details };
        }
      },
      { url: envState(prod).ingress_url, token: prodToken, resumeToken: run.resumeToken },
    );
    expect(refusal).toMatchObject({
      isTetherError: true,
      code: "wrong_environment",
      details: { closeCode: 4409, expectedEnvironment: staging, environment: prod },
    });
  }, 240_000);
});
