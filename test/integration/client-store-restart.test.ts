/**
 * The SDK loses nothing when the app dies: a Node process streams a WAV through the SDK
 * with a file store and is SIGKILLed mid-chunk; a second process calls `resumeStored` and
 * finalizes. The stored audio equals the WAV byte for byte, every segment handed to the
 * SDK before the kill is stored, and the store's files were readable by their owner only.
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileStore } from "../../client/index";
import { speechLikePcm } from "../../client/speech-like";
import { type RunningStack, startLocalStack } from "../../local/stack";
import { signAccessToken } from "../../shared/auth";
import { parseEnvironmentName } from "../../shared/environment";
import { createLogger } from "../../shared/logger";
import { decodePcm16MonoWav, encodePcm16MonoWav } from "../../shared/wav";
import { testPcm } from "../support/ingress-audio";
import { until, untilFinalized } from "../support/poll";
import { onRunningEmulators, uniqueEnvironmentName } from "../support/test-environment";

const ROOT = path.resolve(__dirname, "../..");
const SAMPLE_RATE = 16000;
const CHUNK_BYTES = SAMPLE_RATE * 2; // chunkSeconds 1
const USER = "store-restart-user";

interface Child {
  readonly process: ChildProcess;
  readonly lines: Array<Record<string, unknown>>;
  readonly exited: Promise<number | null>;
  stderr(): string;
}

function startChild(mode: "stream" | "resume", args: string[]): Child {
  return spawnLines(["test/support/client-store-child.ts", mode, ...args]);
}

function spawnLines(args: string[]): Child {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, args[0] ?? ""), ...args.slice(1)], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: Array<Record<string, unknown>> = [];
  let partial = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => {
    partial += d.toString();
    const parts = partial.split("\n");
    partial = parts.pop() ?? "";
    for (const line of parts) if (line.trim()) lines.push(line.startsWith("{") ? JSON.parse(line) : { text: line });
  });
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { process: child, lines, exited, stderr: () => stderr };
}

describe("a file store across a killed process", () => {
  let stack: RunningStack;
  const env = parseEnvironmentName(uniqueEnvironmentName("sto"));
  let dir: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "tether-store-"));
    stack = await startLocalStack({
      environments: [env],
      ...onRunningEmulators(),
      chunkSeconds: 1,
      logger: createLogger({ level: "silent" }),
    });
  });
  afterAll(async () => {
    await stack?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("SIGKILL mid-chunk, resume in a second process: byte-exact audio, every segment stored", async () => {
    const state = stack.state.envs[env];
    if (!state) throw new Error("environment missing");
    const pcm = testPcm(12 * CHUNK_BYTES + 1234, 15);
    const wavPath = path.join(dir, "input.wav");
    fs.writeFileSync(wavPath, encodePcm16MonoWav(pcm, SAMPLE_RATE));
    const storeDir = path.join(dir, "store");
    const args = [state.ingress_url, state.token_secret, wavPath, storeDir];

    const first = startChild("stream", args);
    // Kill once past half the WAV, at a moment when the socket is inside a chunk and audio awaits an ack.
    await until(
      "the first process to stream half the WAV, mid-chunk",
      () => {
        if (first.process.exitCode !== null) throw new Error(`the streaming process exited: ${first.stderr()}`);
        const last = first.lines.at(-1);
        return (
          last !== undefined &&
          typeof last.sent === "number" &&
          typeof last.acked === "number" &&
          last.sent > pcm.length / 2 &&
          last.sent % CHUNK_BYTES !== 0 &&
          last.acked < last.sent
        );
      },
      60_000,
    );
    first.process.kill("SIGKILL");
    await first.exited;
    const conversationId = first.lines.find((l) => typeof l.ready === "string")?.ready;
    const segmentsBeforeKill = first.lines.filter((l) => typeof l.segment === "string").map((l) => l.segment);
    const writtenBeforeKill = Math.max(
      ...first.lines.filter((l) => typeof l.written === "number").map((l) => l.written as number),
    );
    expect(typeof conversationId).toBe("string");
    expect(segmentsBeforeKill.length).toBeGreaterThan(3);

    // The store holds the conversation, its pinned URL, and audio the server had not acknowledged.
    const stored = await fileStore(storeDir).list();
    expect(stored).toHaveLength(1);
    expect(stored[0]?.meta).toMatchObject({ url: state.ingress_url, conversationId, codec: "pcm16" });
    const storedEnd = (stored[0]?.audio ?? []).reduce((end, a) => Math.max(end, a.start + a.data.length), 0);
    expect(storedEnd).toBeGreaterThanOrEqual(writtenBeforeKill);
    expect(stored[0]?.acked).toBeLessThan(storedEnd);
    // It holds the conversation's resume token: its owner's alone, as the killed process left it.
    const mode = (p: string) => (fs.statSync(p).mode & 0o777).toString(8);
    expect(mode(storeDir)).toBe("700");
    const files = fs.readdirSync(storeDir);
    expect(files.length).toBeGreaterThan(0);
    for (const name of files) expect([name, mode(path.join(storeDir, name))]).toEqual([name, "600"]);

    const second = startChild("resume", args);
    const code = await second.exited;
    if (code !== 0) throw new Error(`the resuming process failed (${code}): ${second.stderr()}`);
    const resumed = second.lines.find((l) => l.resumed !== undefined);
    expect(resumed?.resumed).toBe(conversationId);
    const finalized = second.lines.find((l) => l.finalized !== undefined);
    expect(finalized).toMatchObject({ finalized: conversationId, position: pcm.length, left: 0 });
    expect(fs.readdirSync(storeDir)).toEqual([]);

    const token = await signAccessToken(state.token_secret, USER);
    const api = (p: string) =>
      fetch(`${state.api_url}/v1/conversations/${conversationId}${p}`, {
        headers: { authorization: `Bearer ${token}` },
      });
    await untilFinalized(() => api(""));
    const wav = decodePcm16MonoWav(Buffer.from(await (await api("/audio.wav")).arrayBuffer()));
    expect(wav.pcm.length).toBe(pcm.length);
    expect(Buffer.from(wav.pcm).equals(pcm)).toBe(true);

    const segments = (await (await api("/segments")).json()) as { segments: Array<{ id: string }> };
    const storedIds = new Set(segments.segments.map((s) => s.id));
    expect(segmentsBeforeKill.filter((id) => !storedIds.has(id as string))).toEqual([]);
    // And the ones the second process sent.
    for (const line of second.lines.filter((l) => typeof l.segment === "string"))
      expect(storedIds.has(line.segment as string)).toBe(true);
  }, 180_000);

  it("npm run stream --store: a killed stream re-run with the same command picks up where it was", async () => {
    const state = stack.state.envs[env];
    if (!state) throw new Error("environment missing");
    const storeDir = path.join(dir, "cli-store");
    const args = [
      "client/cli.ts",
      "--url",
      state.ingress_url,
      // One argument: a key may begin with "-" (base64url), which a separate argument would not survive.
      `--secret=${state.token_secret}`,
      "--user",
      USER,
      "--api-url",
      state.api_url,
      "--generate",
      "8",
      "--speed",
      "4",
      "--store",
      storeDir,
    ];
    const first = spawnLines(args);
    await until(
      "the first run to store 3 s of audio",
      () => {
        if (first.process.exitCode !== null) throw new Error(`the first run exited: ${first.stderr()}`);
        const files = fs.existsSync(storeDir) ? fs.readdirSync(storeDir) : [];
        return files.length === 1 && fs.statSync(path.join(storeDir, files[0] ?? "")).size > 3 * CHUNK_BYTES;
      },
      60_000,
    );
    first.process.kill("SIGKILL");
    await first.exited;
    expect(first.stderr()).not.toContain("conversation  "); // killed before it finished

    const second = spawnLines(args);
    const code = await second.exited;
    if (code !== 0) throw new Error(`the second run failed (${code}): ${second.stderr()}`);
    expect(second.stderr()).toContain("resuming stored conversation");
    expect(second.stderr()).toContain("picking up after");
    const conversationId = second.lines
      .map((l) => String(l.text ?? ""))
      .find((l) => l.startsWith("conversation  "))
      ?.slice("conversation  ".length)
      .trim();
    expect(conversationId).toBeDefined();
    expect(first.stderr()).toContain(`conversation ${conversationId} on environment`);
    expect(fs.readdirSync(storeDir)).toEqual([]);
    const token = await signAccessToken(state.token_secret, USER);
    const wav = decodePcm16MonoWav(
      Buffer.from(
        await (
          await fetch(`${state.api_url}/v1/conversations/${conversationId}/audio.wav`, {
            headers: { authorization: `Bearer ${token}` },
          })
        ).arrayBuffer(),
      ),
    );
    expect(Buffer.from(wav.pcm).equals(speechLikePcm(8, SAMPLE_RATE))).toBe(true);
  }, 180_000);
});
