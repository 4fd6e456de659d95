/**
 * The first ten minutes of a new user, with no options anywhere: in a copy of the checkout,
 * `npm start`, then `npm run stream -- some.wav`; the playback command it prints, run as
 * printed, downloads the WAV's audio byte for byte, with its token in a header and none in
 * the URL. Ctrl-C removes the default state file.
 *
 * The copy stands in for a fresh clone (its own `.tether/state.json`, the developer's
 * checkout untouched) and shares node_modules with this one. `npm start` uses its default
 * ports, so this test fails, with `npm start`'s own sentence, while another stack on this
 * machine holds them.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { speechLikePcm } from "../../client/speech-like";
import { decodePcm16MonoWav, encodePcm16MonoWav } from "../../shared/wav";
import { eventually } from "../support/poll";

const root = path.resolve(__dirname, "../..");
const SAMPLE_RATE = 16000;

/** Everything a clone has: the working tree without installed, built or local state. */
function copyCheckout(): string {
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), "tether-checkout-"));
  const skip = new Set(["node_modules", ".git", ".tether", "dist", "coverage"]);
  for (const entry of fs.readdirSync(root)) {
    if (skip.has(entry)) continue;
    fs.cpSync(path.join(root, entry), path.join(copy, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(root, "node_modules"), path.join(copy, "node_modules"), "dir");
  return copy;
}

const waitFor = <T>(check: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 60_000) =>
  eventually(check, what, { timeoutMs });

function run(command: string, args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env: { ...process.env, LOG_LEVEL: "warn" } }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe("zero-configuration start", () => {
  it("npm start, then npm run stream -- some.wav, prints a playback command that downloads the WAV", async () => {
    const checkout = copyCheckout();
    const stateFile = path.join(checkout, ".tether", "state.json");
    let output = "";
    const stack: ChildProcess = spawn("npm", ["start"], {
      cwd: checkout,
      detached: true, // its own process group, so the test can press "Ctrl-C" on the whole group
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, LOG_LEVEL: "warn" },
    });
    stack.stdout?.on("data", (d: Buffer) => (output += d.toString()));
    stack.stderr?.on("data", (d: Buffer) => (output += d.toString()));
    const exited = new Promise<void>((resolve) => stack.once("exit", () => resolve()));
    try {
      await waitFor(
        () => {
          if (stack.exitCode !== null) throw new Error(`npm start exited early:\n${output}`);
          return fs.existsSync(stateFile) && output.includes("Press Ctrl-C") ? true : undefined;
        },
        "npm start to write .tether/state.json",
        150_000,
      );
      expect(output).toMatch(/^\s+stream\s+npm run stream -- FILE\.wav$/m);

      // 6.5 s: one chunk, shorter than the default 10 s, ended by the stream's finalize.
      const pcm = speechLikePcm(6.5, SAMPLE_RATE);
      fs.writeFileSync(path.join(checkout, "some.wav"), encodePcm16MonoWav(pcm, SAMPLE_RATE));
      const streamed = await run("npm", ["run", "--silent", "stream", "--", "some.wav"], checkout);
      if (streamed.code !== 0) throw new Error(`npm run stream failed:\n${streamed.stdout}${streamed.stderr}`);

      // The output ends with the conversation id, the environment and the playback command.
      const last = streamed.stdout.trimEnd().split("\n").slice(-3);
      const conversationId = /^conversation\s+(\S+)$/.exec(last[0] ?? "")?.[1];
      expect(conversationId).toMatch(/^[A-Za-z0-9_-]{8,64}$/);
      expect(last[1]).toMatch(/^environment\s+dev$/);
      const command = /^playback\s+(curl .*)$/.exec(last[2] ?? "")?.[1] ?? "";
      expect(command).toContain(`/v1/conversations/${conversationId}/audio.wav`);
      expect(command).not.toMatch(/[?&]access_token=/);

      const downloaded = await run("/bin/sh", ["-c", command], checkout);
      if (downloaded.code !== 0) throw new Error(`the playback command failed:\n${downloaded.stderr}`);
      const wav = decodePcm16MonoWav(fs.readFileSync(path.join(checkout, `${conversationId}.wav`)));
      expect(wav.sampleRate).toBe(SAMPLE_RATE);
      expect(wav.pcm.length).toBe(pcm.length);
      expect(wav.pcm.equals(pcm)).toBe(true);
    } finally {
      if (stack.pid && stack.exitCode === null) process.kill(-stack.pid, "SIGINT");
      await exited;
    }
    // npm returns at once; the stack it started removes its state file as it stops.
    await waitFor(() => (fs.existsSync(stateFile) ? undefined : true), "the state file to be removed", 20_000);
    fs.rmSync(checkout, { recursive: true, force: true });
    // Two emulators' start-up, a stream and a stop: the inner waits say which step was slow,
    // so the whole test is allowed longer than their sum.
  }, 240_000);
});
