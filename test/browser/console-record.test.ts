/**
 * The Record page on a first run, in headless Chromium against a local stack: the Demo
 * button streams two speakers with segments and person assignments, and the conversation
 * page then shows its segments by speaker and a sample extracted per person; a text file
 * named .wav is refused before any socket opens (no conversation, no stored record), and
 * a real WAV file shows its progress and is offered Finalize when it ends; an unfinished
 * recording is offered to its own user after a reload, never to another local user.
 * Screenshots go to test/browser/screenshots/record-*.png.
 */
import fs from "node:fs";
import path from "node:path";
import type { Page } from "playwright-core";
import { speechLikePcm } from "../../client/speech-like";
import { signAccessToken } from "../../shared/auth";
import { encodePcm16MonoWav } from "../../shared/wav";
import { loadVoiceFixtures } from "../support/extract-voices";
import { storedInPage } from "./recordings";
import {
  type BrowserStack,
  type LaunchedBrowser,
  launchChromium,
  SCREENSHOT_DIR,
  startBrowserStack,
  writeWav,
} from "./support";

const SAMPLE_RATE = 16000;
const WAIT = { timeout: 90_000 };

async function waitForState(page: Page, state: string): Promise<void> {
  await page.waitForFunction(
    (s) => document.querySelector('[data-testid="record-state"]')?.textContent === s,
    state,
    WAIT,
  );
}

const shot = (page: Page, name: string) =>
  page.screenshot({ path: path.join(SCREENSHOT_DIR, `record-${name}.png`), fullPage: true });

describe("the Record page", () => {
  let stack: BrowserStack;
  let chromium: LaunchedBrowser;

  const envState = () => {
    const state = stack.stack.state.envs[stack.envs[0]];
    if (!state) throw new Error("environment missing");
    return state;
  };
  const open = async (user: string): Promise<Page> => {
    const page = await chromium.context.newPage();
    await page.goto(`${stack.consoleUrl}?env=${stack.envs[0]}&user=${user}`);
    return page;
  };
  const api = async (user: string, p: string): Promise<Response> =>
    fetch(`${envState().api_url}${p}`, {
      headers: { authorization: `Bearer ${await signAccessToken(envState().token_secret, user)}` },
    });

  beforeAll(async () => {
    stack = await startBrowserStack(["rda", "rdb"]);
    const voices = loadVoiceFixtures().filter((f) => f.sampleRate === SAMPLE_RATE);
    chromium = await launchChromium({ microphoneWav: writeWav(Buffer.concat(voices.map((v) => v.pcm)), SAMPLE_RATE) });
    fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  }, 180_000);

  afterAll(async () => {
    await chromium?.close();
    await stack?.stop();
  });

  it("Demo streams two speakers: the conversation page shows their segments and a sample per person", async () => {
    const page = await open("demo-user");
    await page.getByTestId("record-demo").click();
    await waitForState(page, "recording");
    await page.getByTestId("file-progress").waitFor(WAIT);
    await shot(page, "demo-streaming");
    await waitForState(page, "finalized");
    await page.getByTestId("demo-next").waitFor(WAIT);
    const id = (await page.getByTestId("conversation-id").textContent()) ?? "";
    expect(id).toMatch(/^[A-Za-z0-9_-]{8,64}$/);

    await page.getByTestId("conversation-id").click();
    await page.getByTestId("conversation-title").filter({ hasText: id }).waitFor(WAIT);
    await page.waitForFunction(
      () => document.querySelector('[data-testid="extraction-status"]')?.textContent === "done",
      undefined,
      WAIT,
    );
    await shot(page, "demo-conversation");
    // Extraction ran on real speech: each person has a sample.
    const conversation = (await (await api("demo-user", `/v1/conversations/${id}`)).json()) as {
      extraction: { people: Array<{ person_id: string; status: string; samples: number }> };
    };
    expect(conversation.extraction.people.map((p) => `${p.person_id} ${p.status} ${p.samples}`).sort()).toEqual([
      "demo-alan extracted 1",
      "demo-sara extracted 1",
    ]);

    const segments = (await (await api("demo-user", `/v1/conversations/${id}/segments`)).json()) as {
      segments: Array<{ speaker: string; person_id: string | null }>;
    };
    expect(segments.segments.map((s) => `${s.speaker}=${s.person_id}`)).toEqual([
      ...Array(3).fill("SPEAKER_00=demo-alan"),
      ...Array(3).fill("SPEAKER_01=demo-sara"),
      "SPEAKER_00=demo-alan",
      "SPEAKER_01=demo-sara",
    ]);
    await page.close();
  }, 180_000);

  it("refuses a text file named .wav at once, then streams a WAV with progress and offers Finalize at its end", async () => {
    const page = await open("file-user");
    await page.getByTestId("record-source").selectOption("file");
    await page.getByTestId("record-file").setInputFiles({
      name: "notes.wav",
      mimeType: "audio/wav",
      buffer: Buffer.from("these are my notes, not audio\n"),
    });
    const problem = page.getByTestId("problem");
    await problem.waitFor(WAIT);
    expect(await problem.textContent()).toContain("notes.wav cannot be streamed: not a WAV file");
    expect(await page.getByTestId("record-start").isDisabled()).toBe(true);
    await shot(page, "bad-wav");
    // Nothing was opened: no conversation on the server, no record in the browser.
    const list = (await (await api("file-user", "/v1/conversations")).json()) as { conversations: unknown[] };
    expect(list.conversations).toEqual([]);
    expect(await storedInPage(page, "file-user")).toEqual([]);

    const wav = encodePcm16MonoWav(speechLikePcm(2, SAMPLE_RATE), SAMPLE_RATE);
    await page.getByTestId("record-file").setInputFiles({ name: "two.wav", mimeType: "audio/wav", buffer: wav });
    await page.waitForFunction(
      () => !document.querySelector<HTMLButtonElement>('[data-testid="record-start"]')?.disabled,
      undefined,
      WAIT,
    );
    expect(await page.getByTestId("problem").count()).toBe(0);
    await page.getByTestId("record-start").click();
    await waitForState(page, "file ended");
    expect(await page.getByTestId("file-progress-text").textContent()).toBe("2.0 of 2.0 s");
    expect(await page.getByTestId("stat-written").textContent()).toBe("2.0 s");
    await shot(page, "file-ended");
    await page.getByTestId("finalize-offer").click();
    await waitForState(page, "finalized");
    expect(Number(await page.getByTestId("sent-bytes").textContent())).toBe(wav.length - 44);
    await page.close();
  }, 120_000);

  it("offers an unfinished recording to its own user only", async () => {
    const ann = await open("rec-ann");
    await ann.getByTestId("record-start").click();
    await waitForState(ann, "recording");
    await ann.waitForFunction(
      () => Number(document.querySelector<HTMLElement>('[data-testid="stat-written"]')?.dataset.units) >= 32000,
      undefined,
      WAIT,
    );
    expect(await ann.getByTestId("level-dbfs").textContent()).toMatch(/^-\d+ dBFS$/);
    // Leave mid-recording: the page goes, the stored record stays.
    await ann.goto(`${stack.consoleUrl}?env=${stack.envs[0]}&user=rec-bob`);
    await ann.locator('[data-testid="record-page"][data-stored]').waitFor(WAIT);
    expect(await ann.getByTestId("record-page").getAttribute("data-stored")).toBe("0");
    expect(await ann.getByTestId("resume-offer").count()).toBe(0);
    await shot(ann, "other-user");

    await ann.goto(`${stack.consoleUrl}?env=${stack.envs[0]}&user=rec-ann`);
    await ann.getByTestId("resume-offer").waitFor(WAIT);
    const [record] = await storedInPage(ann, "rec-ann");
    expect(await ann.getByTestId("resume-offer").textContent()).toContain(record?.conversationId ?? "?");
    await shot(ann, "own-user");
    await ann.getByTestId("resume-stored").click();
    await waitForState(ann, "recording");
    await ann.getByTestId("finalize").click();
    await waitForState(ann, "finalized");
    expect(await ann.getByTestId("conversation-id").textContent()).toBe(record?.conversationId);
    await ann.close();
  }, 120_000);
});
