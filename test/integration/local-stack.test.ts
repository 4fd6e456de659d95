/**
 * `npm start` as a developer runs it: the state file appears with every environment,
 * a second start on busy ports fails with a sentence, and Ctrl-C leaves no process behind.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { freePort } from "../../local/ports";

const root = path.resolve(__dirname, "../..");

function startNpm(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  let output = "";
  const child = spawn("npm", ["start", "--", ...args], {
    cwd: root,
    detached: true, // its own process group, so the test can press "Ctrl-C" on the whole group
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, LOG_LEVEL: "warn" },
  });
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function waitFor<T>(check: () => T | undefined, what: string, timeoutMs = 45_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = check();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

function processesMentioning(text: string): string[] {
  const ps = execFileSync("ps", ["-eo", "pid,args"], { encoding: "utf8" });
  return ps.split("\n").filter((line) => line.includes(text) && !line.includes("ps -eo"));
}

describe("npm start", () => {
  it("runs staging and prod side by side, refuses a second start, and stops everything on Ctrl-C", async () => {
    const ports = { pubsub: await freePort(), firestore: await freePort(), storage: await freePort() };
    const stateFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "tether-state-")), "state.json");
    const args = [
      "--envs",
      "staging,prod",
      "--state-file",
      stateFile,
      "--base-port",
      "0", // any free ports: fixed ones could collide with servers of test files running in parallel
      "--pubsub-port",
      String(ports.pubsub),
      "--firestore-port",
      String(ports.firestore),
      "--storage-port",
      String(ports.storage),
    ];
    const first = startNpm(args);
    try {
      const state = await waitFor(() => {
        if (first.child.exitCode !== null) throw new Error(`npm start exited early:\n${first.output()}`);
        return fs.existsSync(stateFile) ? JSON.parse(fs.readFileSync(stateFile, "utf8")) : undefined;
      }, "the state file");
      expect(Object.keys(state.envs)).toEqual(["staging", "prod"]);
      const { staging, prod } = state.envs;
      expect(staging.project_id).not.toBe(prod.project_id);
      expect(staging.bucket).not.toBe(prod.bucket);
      expect(staging.token_secret).not.toBe(prod.token_secret);
      expect(staging.ingress_url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/v1\/listen$/);
      expect(staging.api_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const servicePorts = [staging, prod].flatMap((env) => [
        Number(new URL(env.ingress_url).port),
        Number(new URL(env.api_url).port),
      ]);
      expect(new Set(servicePorts).size).toBe(4);
      for (const port of servicePorts) expect(await portOpen(port)).toBe(true);
      expect(state.emulators).toEqual({
        pubsub: `127.0.0.1:${ports.pubsub}`,
        firestore: `127.0.0.1:${ports.firestore}`,
        storage: `http://127.0.0.1:${ports.storage}`,
      });
      expect(first.output()).toContain("tether is running on the local emulators");

      const second = startNpm(args);
      const code = await second.exited;
      expect(code).not.toBe(0);
      expect(second.output()).toMatch(/already in use: is another `npm start` running\?/);
      expect(second.output()).not.toMatch(/\n\s+at /); // a sentence, not a stack trace
    } finally {
      if (first.child.pid && first.child.exitCode === null) process.kill(-first.child.pid, "SIGINT");
      await first.exited;
    }
    // npm returns at once; the stack it started finishes stopping on its own.
    await waitFor(() => (fs.existsSync(stateFile) ? undefined : true), "the state file to be removed", 20_000);
    await waitFor(
      () => (Object.values(ports).every((port) => processesMentioning(`port=${port}`).length === 0) ? true : undefined),
      "the emulator processes to exit",
      20_000,
    );
    for (const port of Object.values(ports)) expect(await portOpen(port)).toBe(false);
    expect(processesMentioning(stateFile)).toEqual([]);
  });
});
