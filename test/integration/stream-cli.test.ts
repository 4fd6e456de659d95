/**
 * `npm run stream` as a developer meets it, as a real child process: when nothing listens
 * at the state file's URL it says "connecting…" at once and fails within 15 s with a
 * sentence naming `npm start`; Ctrl-C (a real SIGINT) says which conversation it left
 * open, prints its console link, and the command it prints to resume with --store, run as
 * printed, finishes the same conversation, whose stored audio is the source's byte for byte.
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { speechLikePcm } from "../../client/speech-like";
import { type IngressHarness, reassemble, startIngressHarness } from "../support/ingress-harness";
import { until } from "../support/poll";

const ROOT = path.resolve(__dirname, "../..");

interface Run {
  readonly child: ChildProcess;
  readonly startedAt: number;
  readonly exited: Promise<{ code: number | null; ms: number }>;
  stdout(): string;
  stderr(): string;
}

/** `npm run stream -- ARGS` without npm (npm's own start-up is not what is measured). */
function stream(args: readonly string[]): Run {
  const startedAt = Date.now();
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "client/cli.ts"), ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; ms: number }>((resolve) =>
    child.once("exit", (code) => resolve({ code, ms: Date.now() - startedAt })),
  );
  return { child, startedAt, exited, stdout: () => out, stderr: () => err };
}

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function writeState(dir: string, env: string, ingressUrl: string, tokenSecret: string): string {
  const file = path.join(dir, `${env}-state.json`);
  fs.writeFileSync(
    file,
    JSON.stringify({
      envs: { [env]: { ingress_url: ingressUrl, token_secret: tokenSecret } },
      console_url: "http://127.0.0.1:9/",
    }),
  );
  return file;
}

describe("npm run stream", () => {
  let harness: IngressHarness;
  let dir: string;
  let nothingListens: { url: string; run: Run };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "tether-stream-cli-"));
    const url = `ws://127.0.0.1:${await closedPort()}/v1/listen`;
    nothingListens = {
      url,
      run: stream(["--state-file", writeState(dir, "stale", url, "local-key"), "--generate", "5"]),
    };
    harness = await startIngressHarness("cli", { chunkSeconds: 0.5 });
  });

  afterAll(async () => {
    nothingListens?.run.child.kill();
    await harness?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("on Ctrl-C says what it left open and how to resume; the printed command finishes it byte-exact", async () => {
    const env = harness.env.resources.environment;
    const state = writeState(dir, env, harness.url, harness.tokenSecret);
    const store = path.join(dir, "store");
    const args = ["--state-file", state, "--generate", "6", "--speed", "2", "--store", store];
    const first = stream(args);
    await until("the conversation line", () => /conversation \S+ on environment/.test(first.stderr()), 15_000);
    const id = /conversation (\S+) on environment/.exec(first.stderr())?.[1] ?? "";
    // The console line is written after the conversation line, and may reach the pipe later.
    const consoleLine = `console page http://127.0.0.1:9/?env=${env}&user=cli-user&view=conversation&id=${id}`;
    await until("the console page line", () => first.stderr().includes(consoleLine), 15_000);
    expect(first.stderr()).toContain(consoleLine);
    await until("a chunk of it published", () => harness.audio.forConversation(id).length > 0, 15_000);
    first.child.kill("SIGINT");
    expect((await first.exited).code).toBe(130);
    const said = first.stderr();
    expect(said).toContain(`stopped (Ctrl-C): conversation ${id} on ${env} was left open, not finalized.`);
    const printed = /^ {4}npm run stream -- (.+)$/m.exec(said)?.[1];
    expect(printed).toBe(args.join(" "));

    // The command as printed resumes the same conversation and finishes it.
    const second = stream(printed?.split(" ") ?? []);
    const { code } = await second.exited;
    if (code !== 0) throw new Error(`the resumed run failed:\n${second.stderr()}`);
    expect(second.stdout()).toMatch(new RegExp(`^conversation\\s+${id}$`, "m"));
    const source = speechLikePcm(6, 16000);
    await until(
      "every chunk published",
      () => {
        try {
          return reassemble(harness.audio.forConversation(id)).body.length >= source.length;
        } catch {
          return false;
        }
      },
      20_000,
    );
    expect(reassemble(harness.audio.forConversation(id)).body.equals(source)).toBe(true);
  }, 60_000);

  it("says connecting at once and, when nothing listens, fails within 15 s saying to run npm start", async () => {
    // Started in beforeAll, so that its wait overlaps the other test.
    const { code, ms } = await nothingListens.run.exited;
    expect(code).toBe(1);
    expect(ms).toBeLessThan(15_000);
    const lines = nothingListens.run.stderr().split("\n");
    expect(lines[0]).toBe(`connecting to ${nothingListens.url}…`);
    expect(lines.filter((l) => l.startsWith("stream: "))).toEqual([
      expect.stringMatching(/^stream: nothing answers at \S+ \(\d+ attempts in 7 s, .*Start it with `npm start`/),
    ]);
  }, 30_000);
});
