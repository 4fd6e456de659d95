/**
 * The console's history, overview and every state, in headless Chromium against one local
 * stack of two environments (one named like production): a conversation that reconnected
 * and had one chunk redelivered (persist-audio made to fail once after storing it) shows
 * both on its history's audio axis, with a conflicting re-send of a chunk dead-lettered; the overview shows the ingress with its live socket,
 * the subscriptions and a dead letter; an unknown `?env=`, an unknown id, a conversation of
 * the other environment, another user's conversation, an empty list and extraction `done`
 * with nobody each say what to do. Screenshots go to test/browser/screenshots/.
 */
import fs from "node:fs";
import path from "node:path";
import type { Page } from "playwright-core";
import { connect } from "../../client/index";
import { signAccessToken } from "../../shared/auth";
import { eventually } from "../support/poll";
import { chunkMessage } from "../support/workers-messages";
import { type BrowserStack, type LaunchedBrowser, launchChromium, SCREENSHOT_DIR, startBrowserStack } from "./support";

const SAMPLE_RATE = 16000;
const SECOND = SAMPLE_RATE * 2; // pcm16 bytes; the stack's chunks are 1 s
const WAIT = { timeout: 60_000 };

interface HistoryAnswer {
  status: string;
  sockets: unknown[];
  events: Array<{ kind: string; text: string }>;
}

describe("the console's history, overview and states", () => {
  let stack: BrowserStack;
  let chromium: LaunchedBrowser;
  /** persist-audio in the second environment fails once, after it stored a chunk: a real redelivery. */
  const fault = { armed: false, injected: 0 };
  let conversationId = "";

  const envState = (name: string) => {
    const state = stack.stack.state.envs[name];
    if (!state) throw new Error(`${name} is not in the stack`);
    return state;
  };
  const consoleFor = (env: string, user: string, extra = "") => `${stack.consoleUrl}?env=${env}&user=${user}${extra}`;
  const shot = (page: Page, name: string) =>
    page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
  async function api<T>(env: string, user: string, suffix: string): Promise<T> {
    const token = await signAccessToken(envState(env).token_secret, user);
    const response = await fetch(`${envState(env).api_url}/v1/conversations/${suffix}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    return (await response.json()) as T;
  }

  beforeAll(async () => {
    stack = await startBrowserStack(["prod", "stg"], {
      wrapWorker: (worker, environment, handler) => async (event) => {
        await handler(event);
        if (worker === "persistAudio" && environment === stack?.envs[1] && fault.armed) {
          fault.armed = false;
          fault.injected += 1;
          throw new Error("injected: persist-audio fails once after storing the chunk");
        }
      },
    });
    chromium = await launchChromium();
    fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  }, 180_000);

  afterAll(async () => {
    await chromium?.close();
    await stack?.stop();
  });

  it("shows a reconnect and a redelivery on the history's audio axis, and why extraction found nobody", async () => {
    const [, staging] = stack.envs;
    const token = await signAccessToken(envState(staging).token_secret, "alice");
    const session = await connect({ url: envState(staging).ingress_url, token, sampleRate: SAMPLE_RATE });
    fault.armed = true;
    await session.write(new Uint8Array(1.5 * SECOND).fill(1));
    await eventually(async () => session.stats.acked >= SECOND, "the first chunk acknowledged");
    session.simulateDisconnect();
    await eventually(async () => session.stats.reconnects >= 1 && session.sessionId !== undefined, "a resume");
    session.sendSegments([{ id: "s1", start: 0, end: 1, text: "hello" }]);
    await session.write(new Uint8Array(1.5 * SECOND).fill(2));
    conversationId = (await session.finalize()).conversationId;
    expect(fault.injected).toBe(1);
    // A late re-send of chunk 0 with other bytes: refused (chunk_conflict) and dead-lettered.
    const runtime = stack.stack.runtimes.get(staging);
    if (!runtime) throw new Error("no runtime");
    const stream = {
      environment: staging,
      conversationId,
      userId: "alice",
      codec: "pcm16" as const,
      sampleRate: SAMPLE_RATE as 16000,
      chunkSize: SECOND,
    };
    await runtime.clients.pubsub
      .topic(runtime.resources.topics.audio)
      .publishMessage(chunkMessage(stream, { index: 0, start: 0, end: SECOND, final: false }, Buffer.alloc(SECOND, 9)));

    // The API's history holds the redelivery once the worker was pushed the chunk again.
    await eventually(async () => {
      const history = await api<HistoryAnswer>(staging, "alice", `${conversationId}/history`);
      const conversation = await api<{ extraction: { status: string } }>(staging, "alice", conversationId);
      return (
        history.events.some((e) => e.kind === "redelivered") &&
        history.events.some((e) => e.kind === "dead_lettered") &&
        history.status === "finalized" &&
        conversation.extraction.status === "done"
      );
    }, "the redelivery and the dead letter recorded, the conversation finalized and extracted");

    const page = await chromium.context.newPage();
    await page.goto(consoleFor(staging, "alice", `&view=conversation&id=${conversationId}`));
    await page.getByTestId("history").waitFor(WAIT);
    // Two sockets: the dropped one and its resume, each with the audio it carried.
    const sockets = page.getByTestId("socket-item");
    expect(await sockets.count()).toBe(2);
    expect(await sockets.nth(0).getAttribute("data-closed-as")).toBe("dropped");
    expect(await sockets.nth(1).getAttribute("data-closed-as")).toBe("finalized");
    expect(await sockets.nth(1).textContent()).toMatch(/1 text event applied/);
    // The injected failure: chunk 0 stored, its delivery answered 500, pushed again. (A resume's
    // re-sent chunk or a worker's retry may add more: each is a real second delivery.)
    const redelivered = page.locator('[data-testid="history-event"][data-kind="redelivered"]');
    await redelivered
      .filter({ hasText: /chunk 0 was delivered to persist-audio again after it was stored/ })
      .waitFor(WAIT);
    await page
      .locator('[data-testid="history-event"][data-kind="dead_lettered"]')
      .filter({ hasText: /chunk 0 was dead-lettered by persist-audio: chunk_conflict/ })
      .waitFor(WAIT);
    for (const kind of [
      "socket_opened",
      "text_applied",
      "finalize",
      "finalized",
      "extraction_result",
      "notification",
    ]) {
      expect(await page.locator(`[data-testid="history-event"][data-kind="${kind}"]`).count()).toBeGreaterThan(0);
    }
    expect(await page.getByTestId("history-stored").textContent()).toBe("3.0");
    // Extraction `done` with nobody says why.
    await page.getByTestId("extraction-why").waitFor(WAIT);
    expect(await page.getByTestId("extraction-why").textContent()).toMatch(/None of the 1 segment is assigned/);
    await shot(page, "history");
    await page.close();
  }, 120_000);

  it("gives an overview: ingress processes with live sockets, subscriptions, dead letters, notifications", async () => {
    const [production] = stack.envs;
    // A live socket on the production-named environment, and a message no worker can take.
    const token = await signAccessToken(envState(production).token_secret, "alice");
    const session = await connect({ url: envState(production).ingress_url, token, sampleRate: SAMPLE_RATE });
    const runtime = stack.stack.runtimes.get(production);
    if (!runtime) throw new Error("no runtime");
    await runtime.clients.pubsub.topic(runtime.resources.topics.audio).publishMessage({
      data: Buffer.from("not audio"),
      attributes: { environment: "elsewhere", conversation_id: "not-in-this-env-1" },
    });

    const page = await chromium.context.newPage();
    await page.goto(consoleFor(production, "alice", "&view=overview"));
    // Production looks unlike anything else: its banner and its tab title.
    await page.locator('[data-testid="banner"][data-production="true"]').waitFor(WAIT);
    expect(await page.title()).toMatch(/^PROD/);
    await page.waitForFunction(
      () => document.querySelector('[data-testid="overview-sockets"]')?.textContent === "1",
      undefined,
      WAIT,
    );
    expect(await page.getByTestId("overview-ingress-row").count()).toBe(1);
    for (const key of ["persistAudio", "events", "extractSpeakers", "deletion", "deadLetter", "notificationsRecent"]) {
      await page.getByTestId(`overview-subscription-${key}`).waitFor(WAIT);
    }
    await page.getByTestId(`dead-letters-${production}`).getByText("wrong_environment").waitFor(WAIT);
    await page
      .getByTestId(`notifications-${production}`)
      .locator('[data-loaded="true"], p, table')
      .first()
      .waitFor(WAIT);
    await shot(page, "overview");
    await session.finalize();
    await page.close();
  }, 90_000);

  it("says what to do next in every state that is not a conversation", async () => {
    const [production, staging] = stack.envs;
    const page = await chromium.context.newPage();

    // The staging banner differs from production's.
    await page.goto(consoleFor(staging, "alice", "&view=conversations"));
    await page.locator('[data-testid="banner"][data-production="false"]').waitFor(WAIT);
    expect(await page.title()).not.toMatch(/PROD/);

    // An unknown environment is an error naming the known ones.
    await page.goto(consoleFor("qa", "alice"));
    const unknown = page.getByTestId("unknown-environment");
    await unknown.waitFor(WAIT);
    expect(await unknown.textContent()).toMatch(/no environment “qa”/);
    expect(await unknown.textContent()).toContain(production);
    expect(await unknown.textContent()).toContain(staging);
    await shot(page, "unknown-environment");

    // An unknown id: a 404 sentence, no stuck "Loading", no "try again".
    await page.goto(consoleFor(production, "alice", "&view=conversation&id=no-such-conversation"));
    const missing = page.getByTestId("conversation-not-found");
    await missing.getByText("No other environment of this console holds it either").waitFor(WAIT);
    expect(await missing.textContent()).toMatch(/404: there is no conversation no-such-conversation/);
    expect(await page.getByTestId("conversation-loading").count()).toBe(0);
    expect(await page.locator("body").textContent()).not.toMatch(/try again/i);
    await shot(page, "not-found");

    // A staging conversation opened on production says where it is.
    await page.goto(consoleFor(production, "alice", `&view=conversation&id=${conversationId}`));
    const elsewhere = page.getByTestId("conversation-elsewhere");
    await elsewhere.waitFor(WAIT);
    expect(await elsewhere.textContent()).toContain(`It is in ${staging}`);
    await shot(page, "wrong-environment");

    // Another user's conversation: the failure says what to do.
    await page.goto(consoleFor(staging, "bob", `&view=conversation&id=${conversationId}`));
    const failed = page.getByTestId("conversation-failed");
    await failed.waitFor(WAIT);
    expect(await failed.textContent()).toMatch(/another user.*Open it as its owner/);
    await shot(page, "failed");

    // A user with no conversation yet: the empty list says how to make one.
    await page.goto(consoleFor(staging, "carol", "&view=conversations"));
    await page.getByTestId("conversations-empty").waitFor(WAIT);
    await shot(page, "empty");
    await page.close();
  }, 90_000);
});
