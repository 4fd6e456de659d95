/**
 * The conversation console in headless Chromium against a local stack of two
 * environments: about ten seconds recorded from a fake microphone (fed a WAV file)
 * through the browser SDK, two dropped connections, finalize; then the conversation is
 * found in the list, opened, played, and the audio the API serves equals, byte for byte,
 * what the page handed the SDK. The banner shows the environment the server reported, and
 * neither environment's console shows the other's conversations. Screenshots of the
 * record and conversation pages go to test/browser/screenshots/.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Page } from "playwright-core";
import { connect } from "../../client/index";
import { signAccessToken } from "../../shared/auth";
import { loadVoiceFixtures } from "../support/extract-voices";
import {
  type BrowserStack,
  type LaunchedBrowser,
  launchChromium,
  SCREENSHOT_DIR,
  startBrowserStack,
  writeWav,
} from "./support";

const SAMPLE_RATE = 16000;
const BYTES_PER_SECOND = SAMPLE_RATE * 2;
const WAIT = { timeout: 90_000 };

/** Twelve seconds of fixture voices at 16 kHz: what the fake microphone plays. */
function microphoneTrack(): Buffer {
  const clips = loadVoiceFixtures().filter((f) => f.sampleRate === SAMPLE_RATE);
  return Buffer.concat(clips.slice(0, 4).map((c) => c.pcm));
}

/** A number the page shows (a live stat's raw stream units are in its `data-units`). */
async function numberOf(page: Page, testId: string): Promise<number> {
  const cell = page.getByTestId(testId);
  return Number((await cell.getAttribute("data-units")) ?? (await cell.textContent()) ?? "NaN");
}

/** Waits until a numeric field of the page satisfies `atLeast`. */
async function waitForAtLeast(page: Page, testId: string, atLeast: number): Promise<void> {
  await page.waitForFunction(
    ([id, min]) => {
      const cell = document.querySelector<HTMLElement>(`[data-testid="${id}"]`);
      return Number(cell?.dataset.units ?? cell?.textContent ?? "NaN") >= (min as number);
    },
    [testId, atLeast] as const,
    WAIT,
  );
}

describe("the conversation console in a browser", () => {
  let stack: BrowserStack;
  let chromium: LaunchedBrowser;
  const recorded: { id?: string; sha256?: string; bytes?: number } = {};

  const envState = (name: string) => {
    const state = stack.stack.state.envs[name];
    if (!state) throw new Error(`${name} is not in the stack`);
    return state;
  };
  const consoleFor = (env: string, user: string, extra = "") => `${stack.consoleUrl}?env=${env}&user=${user}${extra}`;

  beforeAll(async () => {
    stack = await startBrowserStack(["cna", "cnb"]);
    chromium = await launchChromium({ microphoneWav: writeWav(microphoneTrack(), SAMPLE_RATE) });
    fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  }, 180_000);

  afterAll(async () => {
    await chromium?.close();
    await stack?.stop();
  });

  it("records ~10 s from the microphone across two dropped connections and plays it back byte-exact", async () => {
    const [envA] = stack.envs;
    const page = await chromium.context.newPage();
    // Every URL the console asks for: none may carry a credential (logs and proxies record URLs).
    const urls: string[] = [];
    page.on("request", (request) => urls.push(request.url()));
    page.on("websocket", (socket) => urls.push(socket.url()));
    await page.goto(consoleFor(envA, "alice"));

    // The banner names the environment the API reported.
    const banner = page.getByTestId("environment-banner");
    await page.waitForFunction(
      (name) => document.querySelector('[data-testid="environment-banner"]')?.textContent === name,
      envA,
      WAIT,
    );
    const health = (await (await fetch(`${envState(envA).api_url}/healthz`)).json()) as { environment: string };
    expect(await banner.textContent()).toBe(health.environment);

    await page.getByTestId("record-start").click();
    await page.waitForFunction(
      () => document.querySelector('[data-testid="record-state"]')?.textContent === "recording",
      undefined,
      WAIT,
    );
    await waitForAtLeast(page, "stat-acked", 1);

    // Drop the socket twice, each after a few seconds of audio, and watch the resumes.
    await waitForAtLeast(page, "stat-written", 3 * BYTES_PER_SECOND);
    await page.getByTestId("drop-connection").click();
    await waitForAtLeast(page, "stat-reconnects", 1);
    await waitForAtLeast(page, "stat-written", 6 * BYTES_PER_SECOND);
    await page.getByTestId("drop-connection").click();
    await waitForAtLeast(page, "stat-reconnects", 2);
    await waitForAtLeast(page, "stat-written", 10 * BYTES_PER_SECOND);
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, "record.png"), fullPage: true });

    await page.getByTestId("finalize").click();
    await page.waitForFunction(
      () => document.querySelector('[data-testid="record-state"]')?.textContent === "finalized",
      undefined,
      WAIT,
    );
    expect(await numberOf(page, "stat-reconnects")).toBe(2);
    recorded.id = (await page.getByTestId("conversation-id").textContent()) ?? undefined;
    recorded.sha256 = (await page.getByTestId("sent-sha256").textContent()) ?? undefined;
    recorded.bytes = await numberOf(page, "sent-bytes");
    expect(recorded.id).toMatch(/^[A-Za-z0-9_-]{8,64}$/);
    expect(recorded.bytes).toBeGreaterThanOrEqual(10 * BYTES_PER_SECOND);
    // The banner still shows what the server said (now from each socket's `ready`).
    expect(await banner.textContent()).toBe(envA);

    // Find it in the list and open it.
    await page.getByRole("button", { name: "Conversations" }).click();
    const item = page
      .getByTestId("conversation-list")
      .getByTestId("conversation-item")
      .filter({ hasText: recorded.id as string });
    await item.waitFor(WAIT);
    await item.getByRole("link").click();
    await page
      .getByTestId("conversation-title")
      .filter({ hasText: recorded.id as string })
      .waitFor(WAIT);

    // The page fetched the stored audio: the same bytes the SDK was handed.
    await page.waitForFunction(
      (sha) => document.querySelector('[data-testid="audio-sha256"]')?.textContent === sha,
      recorded.sha256,
      WAIT,
    );
    // And so does anyone else who asks the API.
    const token = await signAccessToken(envState(envA).token_secret, "alice");
    const wav = Buffer.from(
      await (
        await fetch(`${envState(envA).api_url}/v1/conversations/${recorded.id}/audio.wav`, {
          headers: { authorization: `Bearer ${token}` },
        })
      ).arrayBuffer(),
    );
    const stored = wav.subarray(44);
    expect(stored.length).toBe(recorded.bytes);
    expect(crypto.createHash("sha256").update(stored).digest("hex")).toBe(recorded.sha256);

    // Three sockets on the timeline: the first and two resumes.
    expect(await page.getByTestId("socket-item").count()).toBe(3);

    // The player plays the conversation (the WAV the console fetched with the bearer header).
    await page.getByTestId("audio-player").evaluate((audio: HTMLAudioElement) => audio.play());
    await page.waitForFunction(
      () =>
        ((document.querySelector('[data-testid="audio-player"]') as HTMLAudioElement | null)?.currentTime ?? 0) > 0.5,
      undefined,
      WAIT,
    );
    await page.getByTestId("audio-player").evaluate((audio: HTMLAudioElement) => audio.pause());
    expect(urls.filter((url) => url.includes("/v1/")).length).toBeGreaterThan(5);
    // A JWT (header and claims both start `eyJ`) anywhere but the resume token's own query parameter.
    const credentials = urls.filter((url) => {
      const parsed = new URL(url);
      parsed.searchParams.delete("resume_token");
      return /access_token|tether\.bearer|eyJ[\w-]*\.eyJ/.test(parsed.href);
    });
    expect(credentials).toEqual([]);
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, "conversation.png"), fullPage: true });
    await page.close();
  }, 240_000);

  it("shows each environment's conversations only in that environment's console", async () => {
    const [envA, envB] = stack.envs;
    // One conversation of alice's in B, streamed with the Node SDK.
    const tokenB = await signAccessToken(envState(envB).token_secret, "alice");
    const session = await connect({ url: envState(envB).ingress_url, token: tokenB, sampleRate: SAMPLE_RATE });
    await session.write(new Uint8Array(BYTES_PER_SECOND));
    const inB = (await session.finalize()).conversationId;

    const listed = async (env: string): Promise<string[]> => {
      const page = await chromium.context.newPage();
      await page.goto(consoleFor(env, "alice", "&view=conversations"));
      await page.waitForFunction(
        (name) => document.querySelector('[data-testid="environment-banner"]')?.textContent === name,
        env,
        WAIT,
      );
      await page.locator('[data-testid="conversation-list"][data-loaded="true"]').waitFor(WAIT);
      const ids = await page.getByTestId("conversation-item").getByRole("link").allTextContents();
      await page.close();
      return ids;
    };
    const listA = await listed(envA);
    const listB = await listed(envB);
    if (recorded.id) expect(listA).toContain(recorded.id);
    expect(listB).toEqual([inB]);
    expect(listA).not.toContain(inB);
    for (const id of listA) expect(listB).not.toContain(id);
  }, 120_000);

  it("says in a sentence what to do when the browser refuses the microphone", async () => {
    const [envA] = stack.envs;
    // A microphone exists, but the permission prompt is answered "block".
    const refusing = await launchChromium({ refuseMicrophone: true });
    try {
      const page = await refusing.context.newPage();
      await page.goto(consoleFor(envA, "alice"));
      await page.getByTestId("record-start").click();
      const problem = page.getByTestId("problem");
      await problem.waitFor(WAIT);
      expect(await problem.textContent()).toMatch(/refused the microphone.*Allow microphone access/);
      expect(await page.getByTestId("record-state").textContent()).toBe("failed");
    } finally {
      await refusing.close();
    }
  }, 60_000);

  it("switches environment in one click, and the banner follows the server", async () => {
    const [envA, envB] = stack.envs;
    const page = await chromium.context.newPage();
    await page.goto(consoleFor(envA, "alice"));
    await page.waitForFunction(
      (name) => document.querySelector('[data-testid="environment-banner"]')?.textContent === name,
      envA,
      WAIT,
    );
    await page.getByTestId(`env-switch-${envB}`).click();
    await page.waitForFunction(
      (name) => document.querySelector('[data-testid="environment-banner"]')?.textContent === name,
      envB,
      WAIT,
    );
    expect(new URL(page.url()).searchParams.get("env")).toBe(envB);
    await page.close();
  }, 60_000);
});
