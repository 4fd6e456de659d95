/**
 * A reloaded tab loses nothing: the console records from a fake microphone with the
 * SDK's IndexedDB store, the page is reloaded mid-recording, the console offers to resume
 * the stored conversation and resumes it. The stored audio equals what the server had
 * acknowledged, then exactly the unacknowledged audio the SDK held in IndexedDB at the
 * reload, then exactly what the page handed the SDK after resuming.
 */
import crypto from "node:crypto";
import type { Page } from "playwright-core";
import { signAccessToken } from "../../shared/auth";
import { loadVoiceFixtures } from "../support/extract-voices";
import { untilFinalized } from "../support/poll";
import { storedInPage } from "./recordings";
import { type BrowserStack, type LaunchedBrowser, launchChromium, startBrowserStack, writeWav } from "./support";

const SAMPLE_RATE = 16000;
const BYTES_PER_SECOND = SAMPLE_RATE * 2;
const WAIT = { timeout: 90_000 };

function microphoneTrack(): Buffer {
  const clips = loadVoiceFixtures().filter((f) => f.sampleRate === SAMPLE_RATE);
  return Buffer.concat(clips.slice(0, 4).map((c) => c.pcm));
}

/** A number the page shows (a live stat's raw stream units are in its `data-units`). */
async function numberOf(page: Page, testId: string): Promise<number> {
  const cell = page.getByTestId(testId);
  return Number((await cell.getAttribute("data-units")) ?? (await cell.textContent()) ?? "NaN");
}

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

async function waitForState(page: Page, state: string): Promise<void> {
  await page.waitForFunction(
    (s) => document.querySelector('[data-testid="record-state"]')?.textContent === s,
    state,
    WAIT,
  );
}

describe("the console after a reload mid-recording", () => {
  let stack: BrowserStack;
  let chromium: LaunchedBrowser;

  beforeAll(async () => {
    stack = await startBrowserStack(["rsa", "rsb"]);
    chromium = await launchChromium({ microphoneWav: writeWav(microphoneTrack(), SAMPLE_RATE) });
  }, 180_000);

  afterAll(async () => {
    await chromium?.close();
    await stack?.stop();
  });

  it("offers to resume the stored conversation and resumes it; nothing accepted is lost", async () => {
    const [envA] = stack.envs;
    const state = stack.stack.state.envs[envA];
    if (!state) throw new Error("environment missing");
    const page = await chromium.context.newPage();
    await page.goto(`${stack.consoleUrl}?env=${envA}&user=alice`);

    await page.getByTestId("record-start").click();
    await waitForState(page, "recording");
    await waitForAtLeast(page, "stat-acked", 1);
    await waitForAtLeast(page, "stat-written", 3 * BYTES_PER_SECOND);
    // Reload while audio awaits an ack (acks come once per 1 s chunk).
    await page.waitForFunction(
      () => {
        const n = (id: string) =>
          Number(document.querySelector<HTMLElement>(`[data-testid="${id}"]`)?.dataset.units ?? "0");
        return n("stat-written") > n("stat-acked");
      },
      undefined,
      WAIT,
    );
    const ackedBeforeReload = await numberOf(page, "stat-acked");
    await page.reload();

    // The console offers the stored conversation; the store holds unacknowledged audio.
    await page.getByTestId("resume-offer").waitFor(WAIT);
    const stored = await storedInPage(page, "alice");
    expect(stored).toHaveLength(1);
    const record = stored[0];
    if (!record?.conversationId) throw new Error("the stored record has no conversation id");
    expect(record.acked).toBeGreaterThanOrEqual(ackedBeforeReload);
    expect(record.held.length).toBeGreaterThan(0);
    expect(await page.getByTestId("resume-offer").textContent()).toContain(record.conversationId);
    const heldEnd = record.acked + record.held.length;

    await page.getByTestId("resume-stored").click();
    await waitForState(page, "recording");
    await waitForAtLeast(page, "stat-written", heldEnd + 2 * BYTES_PER_SECOND);
    await page.getByTestId("finalize").click();
    await waitForState(page, "finalized");
    expect(await page.getByTestId("conversation-id").textContent()).toBe(record.conversationId);
    expect(await numberOf(page, "resumed-from")).toBe(heldEnd);
    const afterBytes = await numberOf(page, "sent-bytes");
    const afterSha = await page.getByTestId("sent-sha256").textContent();
    expect(afterBytes).toBeGreaterThan(0);

    const token = await signAccessToken(state.token_secret, "alice");
    const api = (p: string) =>
      fetch(`${state.api_url}/v1/conversations/${record.conversationId}${p}`, {
        headers: { authorization: `Bearer ${token}` },
      });
    await untilFinalized(() => api(""));
    const audio = Buffer.from(await (await api("/audio.wav")).arrayBuffer()).subarray(44);
    expect(audio.length).toBe(heldEnd + afterBytes);
    // Exactly what IndexedDB held at the reload, then exactly what came after.
    expect(audio.subarray(record.acked, heldEnd).equals(Buffer.from(record.held))).toBe(true);
    expect(crypto.createHash("sha256").update(audio.subarray(heldEnd)).digest("hex")).toBe(afterSha);
    expect(await storedInPage(page, "alice")).toEqual([]);
    await page.close();
  }, 300_000);
});
