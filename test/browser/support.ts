/**
 * Browser tests' shared pieces: Debian's Chromium driven by playwright-core (headless,
 * a fresh profile, a fake microphone fed a WAV file), a local stack of two environments
 * on the suite's emulators, and where screenshots go.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { type Browser, type BrowserContext, chromium } from "playwright-core";
import { startConsoleForStack } from "../../local/console-server";
import type { WrapWorker } from "../../local/push-delivery";
import { type RunningStack, startLocalStack } from "../../local/stack";
import { type EnvironmentName, parseEnvironmentName } from "../../shared/environment";
import { createLogger } from "../../shared/logger";
import { wavHeader } from "../../shared/wav";
import { onRunningEmulators, uniqueEnvironmentName } from "../support/test-environment";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/** Written by every run of the browser suite (git-ignored). */
export const SCREENSHOT_DIR = path.resolve(__dirname, "screenshots");

export function requireChromium(): void {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(
      `the browser tests need Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`,
    );
  }
}

export interface LaunchedBrowser {
  readonly browser: Browser;
  readonly context: BrowserContext;
  close(): Promise<void>;
}

/**
 * Headless Chromium with a fresh profile (playwright makes a new user-data-dir per launch);
 * with `microphoneWav`, its fake microphone plays that file (looped); with `refuseMicrophone`,
 * a microphone exists but every permission prompt is answered "block".
 */
export async function launchChromium(
  options: { microphoneWav?: string; refuseMicrophone?: boolean } = {},
): Promise<LaunchedBrowser> {
  requireChromium();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-gpu",
      "--disable-quic",
      "--autoplay-policy=no-user-gesture-required",
      ...(options.microphoneWav
        ? [
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            `--use-file-for-fake-audio-capture=${options.microphoneWav}`,
          ]
        : []),
      ...(options.refuseMicrophone ? ["--use-fake-device-for-media-stream", "--deny-permission-prompts"] : []),
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  return {
    browser,
    context,
    close: () => browser.close(),
  };
}

/** Writes mono pcm16 as a WAV file and returns its path. */
export function writeWav(pcm: Buffer, sampleRate: number): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "tether-wav-")), "microphone.wav");
  fs.writeFileSync(file, Buffer.concat([wavHeader({ sampleRate, channels: 1 }, pcm.length), pcm]));
  return file;
}

export interface BrowserStack {
  readonly stack: RunningStack;
  readonly envs: readonly [EnvironmentName, EnvironmentName];
  readonly consoleUrl: string;
  stop(): Promise<void>;
}

/** Two environments of the local stack on the suite's emulators, with the console (`wrapWorker`: injected faults). */
export async function startBrowserStack(
  prefixes: readonly [string, string],
  options: { wrapWorker?: WrapWorker } = {},
): Promise<BrowserStack> {
  const envs = [
    parseEnvironmentName(uniqueEnvironmentName(prefixes[0])),
    parseEnvironmentName(uniqueEnvironmentName(prefixes[1])),
  ] as const;
  const logger = createLogger({ level: "silent" });
  const stack = await startLocalStack({
    environments: envs,
    ...onRunningEmulators(),
    chunkSeconds: 1,
    logger,
    ...(options.wrapWorker === undefined ? {} : { wrapWorker: options.wrapWorker }),
  });
  try {
    const consoleServer = await startConsoleForStack(stack, { host: "127.0.0.1", port: 0, logger });
    return {
      stack,
      envs,
      consoleUrl: consoleServer.url,
      stop: async () => {
        await consoleServer.close();
        await stack.stop();
      },
    };
  } catch (error) {
    await stack.stop();
    throw error;
  }
}
