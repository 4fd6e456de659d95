/**
 * `npm start -- --envs staging,prod --ingress-instances 2` as a developer runs it: the state
 * file appears with both environments side by side, a second start on busy ports fails with
 * a sentence, and Ctrl-C leaves no process behind (emulators included). Each environment's
 * ingress runs as two processes behind its one `ingress_url`, as Cloud Run does. SIGKILL of the instance that carries a
 * streaming client loses nothing: the client resumes through the same URL, the conversation
 * finalizes with byte-identical audio, a replacement process appears in the state file,
 * and Ctrl-C leaves no instance behind. The running stack's API (what the chaos run uses)
 * spreads new connections over the instances and kills and replaces one on request.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { connect } from "../../client";
import { freePort } from "../../local/ports";
import { type RunningStack, type StackState, startLocalStack } from "../../local/stack";
import { signAccessToken } from "../../shared/auth";
import { parseEnvironmentName } from "../../shared/environment";
import { createLogger } from "../../shared/logger";
import { decodePcm16MonoWav } from "../../shared/wav";
import { testPcm, throttle } from "../support/ingress-audio";
import { eventually } from "../support/poll";
import { onRunningEmulators, uniqueEnvironmentName } from "../support/test-environment";

const root = path.resolve(__dirname, "../..");
const SAMPLE_RATE = 16000;

const instanceSchema = z.object({ pid: z.number().int().positive(), url: z.string() });
const stateSchema = z.object({
  envs: z.record(
    z.string(),
    z.object({
      project_id: z.string(),
      bucket: z.string(),
      ingress_url: z.string(),
      api_url: z.string(),
      token_secret: z.string(),
      ingress_instances: z.array(instanceSchema),
    }),
  ),
  emulators: z.object({ pubsub: z.string(), firestore: z.string(), storage: z.string() }),
});
type State = z.infer<typeof stateSchema>;

function readState(file: string): State | undefined {
  // The file is replaced by rename, so a read sees the old or the new one, whole.
  return fs.existsSync(file) ? stateSchema.parse(JSON.parse(fs.readFileSync(file, "utf8"))) : undefined;
}

const waitFor = <T>(check: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 60_000) =>
  eventually(check, what, { timeoutMs });

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

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** What an instance's health probe says (it counts its open sockets). */
async function health(instanceUrl: string): Promise<{ status: string; connections: number } | undefined> {
  const url = new URL(instanceUrl);
  return await fetch(`http://${url.host}/healthz`)
    .then(async (r) => (r.ok ? ((await r.json()) as { status: string; connections: number }) : undefined))
    .catch(() => undefined);
}

describe("npm start --envs staging,prod --ingress-instances 2", () => {
  let npm: ChildProcess | undefined;
  let exited: Promise<number | null> = Promise.resolve(null);
  let output = "";
  afterAll(async () => {
    if (npm?.pid && npm.exitCode === null) process.kill(-npm.pid, "SIGINT");
    await exited;
  });

  it("runs both environments side by side, refuses a second start, survives SIGKILL of an instance, and stops everything on Ctrl-C", async () => {
    const ports = { pubsub: await freePort(), firestore: await freePort(), storage: await freePort() };
    const stateFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "tether-instances-")), "state.json");
    const args = [
      "start",
      "--",
      ...["--envs", "staging,prod", "--ingress-instances", "2", "--chunk-seconds", "1"],
      // Any free ports: fixed ones could collide with servers of test files running in parallel.
      ...["--state-file", stateFile, "--base-port", "0"],
      ...["--pubsub-port", String(ports.pubsub), "--firestore-port", String(ports.firestore)],
      ...["--storage-port", String(ports.storage)],
    ];
    const spawnNpm = () =>
      spawn("npm", args, {
        cwd: root,
        detached: true, // its own process group, so the test can press "Ctrl-C" on the whole group
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, LOG_LEVEL: "warn" },
      });
    npm = spawnNpm();
    const child = npm;
    child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
    exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));

    const state = await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`npm start exited early:\n${output}`);
        return readState(stateFile);
      },
      "the state file",
      150_000,
    ); // three emulators start first
    expect(Object.keys(state.envs)).toEqual(["staging", "prod"]);
    const [stagingState, prodState] = [state.envs.staging, state.envs.prod];
    if (!stagingState || !prodState) throw new Error("an environment is missing from the state file");
    expect(stagingState.project_id).not.toBe(prodState.project_id);
    expect(stagingState.bucket).not.toBe(prodState.bucket);
    expect(stagingState.token_secret).not.toBe(prodState.token_secret);
    expect(stagingState.api_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const servicePorts = [stagingState, prodState].flatMap((env) => [
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
    expect(output).toContain("tether is running on the local emulators");

    let secondOutput = "";
    const second = spawnNpm();
    second.stdout?.on("data", (d: Buffer) => (secondOutput += d.toString()));
    second.stderr?.on("data", (d: Buffer) => (secondOutput += d.toString()));
    const secondCode = await new Promise<number | null>((resolve) => second.once("exit", (code) => resolve(code)));
    expect(secondCode).not.toBe(0);
    expect(secondOutput).toMatch(/already in use: is another `npm start` running\?/);
    expect(secondOutput).not.toMatch(/\n\s+at /); // a sentence, not a stack trace

    const allPids = new Set<number>();
    for (const env of Object.values(state.envs)) {
      expect(env.ingress_instances).toHaveLength(2);
      for (const instance of env.ingress_instances) {
        allPids.add(instance.pid);
        expect(alive(instance.pid)).toBe(true);
        expect(instance.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/v1\/listen$/);
        expect(instance.url).not.toBe(env.ingress_url);
        expect((await health(instance.url))?.status).toBe("ok");
      }
    }
    expect(allPids.size).toBe(4);

    const staging = stagingState;
    const token = await signAccessToken(staging.token_secret, "user-instances");
    const session = await connect({
      url: staging.ingress_url,
      token,
      codec: "pcm16",
      sampleRate: SAMPLE_RATE,
      backoff: { initialDelayMs: 20, maxDelayMs: 200 },
      maxReconnectAttempts: 200,
    });
    const audio = testPcm(SAMPLE_RATE * 2 * 20 + 100, 11); // 20 s, the last chunk short
    const killAt = Math.floor(audio.length * 0.4);
    let killed: number | undefined;
    for (let offset = 0; offset < audio.length; offset += 3200) {
      await session.write(audio.subarray(offset, offset + 3200));
      if (killed === undefined && offset >= killAt) {
        // The instance that holds the client's socket dies without draining.
        const carrying = await waitFor(async () => {
          for (const instance of staging.ingress_instances) {
            if (((await health(instance.url))?.connections ?? 0) > 0) return instance.pid;
          }
          return undefined;
        }, "the instance that carries the client");
        process.kill(carrying, "SIGKILL");
        killed = carrying;
      }
      // Audio stays in flight, so the kill falls on unacknowledged bytes.
      await throttle(session, 3 * SAMPLE_RATE * 2);
    }
    const result = await session.finalize();
    expect(killed).toBeDefined();
    expect(result.position).toBe(audio.length);
    expect(session.stats.reconnects).toBeGreaterThanOrEqual(1);

    // The replacement is in the state file; the killed one is not.
    const replaced = await waitFor(() => {
      const now = readState(stateFile)?.envs.staging?.ingress_instances ?? [];
      const pids = now.map((i) => i.pid);
      return now.length === 2 && !pids.includes(killed ?? 0) && pids.some((pid) => !allPids.has(pid)) ? now : undefined;
    }, "a replacement instance in the state file");
    for (const instance of replaced) {
      expect(alive(instance.pid)).toBe(true);
      expect((await health(instance.url))?.status).toBe("ok");
      allPids.add(instance.pid);
    }
    expect(alive(killed ?? 0)).toBe(false);

    const headers = { authorization: `Bearer ${token}` };
    const conversation = `${staging.api_url}/v1/conversations/${result.conversationId}`;
    let last: unknown;
    await waitFor(async () => {
      const view = (await (await fetch(conversation, { headers })).json()) as { status?: string };
      last = view;
      return view.status === "finalized" ? true : undefined;
    }, "the conversation to finalize").catch((error: Error) => {
      throw new Error(`${error.message}: ${JSON.stringify(last)}\n${output.slice(-6000)}`);
    });
    const wav = await fetch(`${conversation}/audio.wav`, { headers });
    expect(wav.status).toBe(200);
    expect(decodePcm16MonoWav(Buffer.from(await wav.arrayBuffer())).pcm.equals(audio)).toBe(true);

    // Ctrl-C stops every instance, replacements included.
    if (child.pid) process.kill(-child.pid, "SIGINT");
    await exited;
    await waitFor(() => ([...allPids].some(alive) ? undefined : true), "every ingress instance to exit", 30_000);
    await waitFor(() => (fs.existsSync(stateFile) ? undefined : true), "the state file to be removed", 20_000);
    await waitFor(
      () => (Object.values(ports).every((port) => processesMentioning(`port=${port}`).length === 0) ? true : undefined),
      "the emulator processes to exit",
      20_000,
    );
    for (const port of [...Object.values(ports), ...servicePorts]) expect(await portOpen(port)).toBe(false);
    expect(processesMentioning(stateFile)).toEqual([]);
  }, 240_000);
});

describe("startLocalStack with ingressInstances: 2", () => {
  const env = parseEnvironmentName(uniqueEnvironmentName("inst"));
  let stack: RunningStack | undefined;
  afterAll(async () => {
    await stack?.stop();
  });

  it("spreads new connections over the instances, and replaces one killed through its API", async () => {
    stack = await startLocalStack({
      environments: [env],
      ...onRunningEmulators(),
      chunkSeconds: 1,
      ingressInstances: 2,
      logger: createLogger({ level: "silent" }),
    });
    const running = stack;
    const state = running.state.envs[env];
    if (!state) throw new Error("no environment");
    const before = running.ingressInstances(env);
    expect(before).toHaveLength(2);
    expect(state.ingress_instances).toEqual(before);

    // Two sockets through the one URL land on two different instances.
    const token = await signAccessToken(state.token_secret, "user-spread");
    const sessions = await Promise.all(
      [1, 2].map(() => connect({ url: state.ingress_url, token, codec: "pcm16", sampleRate: SAMPLE_RATE })),
    );
    const counts = await Promise.all(before.map(async (instance) => (await health(instance.url))?.connections));
    expect(counts).toEqual([1, 1]);

    const changes: StackState[] = [];
    running.onStateChange((changed) => changes.push(structuredClone(changed)));
    const victim = before[0]?.pid ?? 0;
    expect(running.killIngressInstance(env, 999_999_999)).toBe(false);
    expect(running.killIngressInstance(env, victim)).toBe(true);
    const after = await waitFor(() => {
      const now = running.ingressInstances(env);
      return now.length === 2 && !now.some((i) => i.pid === victim) ? now : undefined;
    }, "a replacement instance");
    expect(alive(victim)).toBe(false);
    for (const instance of after) expect((await health(instance.url))?.status).toBe("ok");
    expect(running.state.envs[env]?.ingress_instances).toEqual(after);
    // One change when the instance left, one when its replacement joined.
    expect(changes.map((c) => c.envs[env]?.ingress_instances?.length)).toEqual([1, 2]);

    // The session on the killed instance resumed on a live one; both can still finalize.
    for (const session of sessions) await session.write(testPcm(SAMPLE_RATE * 2, 3));
    const results = await Promise.all(sessions.map((session) => session.finalize()));
    expect(results.map((r) => r.position)).toEqual([SAMPLE_RATE * 2, SAMPLE_RATE * 2]);
    expect(sessions.map((session) => session.stats.reconnects).sort()).toEqual([0, 1]);
  });
});
