/**
 * The whole local stack as `npm start` runs it (its own emulators, each environment's
 * ingress in a child process behind the environment's URL, each worker in a process of its
 * own pushed to by the Pub/Sub emulator, the API in the parent), under the loads a developer
 * puts on it:
 *
 * 1. 500 concurrent real-time 16 kHz pcm16 streams (100 with `--short`): ack latency beyond
 *    each chunk's last byte, while the workers store the chunks behind the ingress (the
 *    report says how many chunks per second they stored against how many the streams
 *    completed). Aim: p99 <= 250 ms on a 2-core machine.
 * 2. One socket uploading a 45-minute backlog through the SDK as fast as the pipeline
 *    acknowledges it (a client catching up after a long time offline): MB/s until the
 *    server answers `finalized`, with no ordering key on the audio.
 *
 * `npm start` is spawned exactly as the npm script runs it, so the figures include its
 * TypeScript loader and logging.
 */
import { type ChildProcess, spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { connect } from "../client";
import { freePort } from "../local/ports";
import { distribution, formatDistribution } from "../local/stats";
import { signAccessToken } from "../shared/auth";
import { emulatorFloor } from "./emulator-floor";
import { cpuMeter, findProcessWithArgument } from "./process-cpu";
import {
  CHUNK_BYTES,
  CHUNK_SECONDS,
  measureRealtime,
  openStreams,
  SAMPLE_RATE,
  userPerStream,
} from "./realtime-streams";
import type { BenchContext } from "./run";

const ROOT = path.resolve(__dirname, "..");
const ENVIRONMENT = "benchlocal";
const BACKLOG_MINUTES = 45;
/** The real-time run measures after this long under the same load (reported apart). */
const REALTIME_WARMUP_SECONDS = 10;

const stateSchema = z.object({
  envs: z.record(
    z.string(),
    z.object({
      ingress_url: z.string().url(),
      token_secret: z.string().min(1),
      ingress_instances: z.array(z.object({ pid: z.number().int(), url: z.string() })).optional(),
    }),
  ),
  emulators: z.object({ pubsub: z.string(), firestore: z.string(), storage: z.string() }),
});
type StackStateFile = z.infer<typeof stateSchema>;

interface StartedStack {
  readonly child: ChildProcess;
  readonly state: StackStateFile;
  /** When persist-audio logged "chunk persisted" (ms since the epoch), as far as the log is read. */
  readonly persistedAt: readonly number[];
  /** Reads the stack's log up to its current end. */
  readLog(): void;
  stop(): Promise<void>;
}

/** persist-audio's line for a chunk it stored (the worker logs it at info level). */
const chunkPersistedSchema = z.object({ message: z.literal("chunk persisted"), time: z.string() });

const chunkDurableSchema = z.object({
  message: z.literal("chunk durable"),
  publish_ms: z.number(),
  commit_ms: z.number(),
});

interface Breakdown {
  open: boolean;
  readonly publishMs: number[];
  readonly commitMs: number[];
}

/** `npm start -- --envs benchlocal ...` on free ports, until its state file appears. */
async function startNpmStart(breakdown: Breakdown | undefined): Promise<StartedStack> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tether-bench-stack-"));
  const stateFile = path.join(dir, "state.json");
  // BENCH_SERVER_NODE_OPTIONS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles `npm start`'s own process.
  const extra = (process.env.BENCH_SERVER_NODE_OPTIONS ?? "").split(" ").filter(Boolean);
  const args = [
    ...extra,
    "--import",
    "tsx",
    "local/start.ts",
    "--envs",
    ENVIRONMENT,
    "--state-file",
    stateFile,
    "--base-port",
    "0",
    "--pubsub-port",
    String(await freePort()),
    "--firestore-port",
    String(await freePort()),
    "--storage-port",
    String(await freePort()),
    "--idle-timeout",
    "600",
    "--chunk-seconds",
    String(CHUNK_SECONDS),
  ];
  // BENCH_STACK_BREAKDOWN=1: the stack logs at debug level, and the ingress's "chunk durable"
  // lines split each ack into its Pub/Sub publish and its Firestore write (the logging costs
  // CPU of its own, so the headline figure is measured without it). The stack writes its
  // lines to a file, as to a terminal: its logger writes synchronously, and a pipe the busy
  // load generator drained late would stall the stack's event loops on every full buffer.
  const logPath = path.join(dir, "npm-start.log");
  const logFd = fs.openSync(logPath, "w");
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    stdio: ["ignore", logFd, logFd],
    detached: true,
    env: { ...process.env, LOG_LEVEL: breakdown === undefined ? "info" : "debug" },
  });
  fs.closeSync(logFd);
  const tail = (): string => {
    const text = fs.readFileSync(logPath, "utf8");
    return text.slice(-4000);
  };
  let readOffset = 0;
  let partial = "";
  const persistedAt: number[] = [];
  /** Reads what the stack logged since the last call (only the new bytes: the log grows by MBs). */
  const readLog = (): void => {
    const fd = fs.openSync(logPath, "r");
    const text = Buffer.alloc(Math.max(0, fs.fstatSync(fd).size - readOffset));
    try {
      readOffset += fs.readSync(fd, text, 0, text.length, readOffset);
    } finally {
      fs.closeSync(fd);
    }
    const lines = (partial + text.toString()).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      if (line.includes('"chunk persisted"')) {
        const entry = chunkPersistedSchema.safeParse(JSON.parse(line));
        if (entry.success) persistedAt.push(Date.parse(entry.data.time));
        continue;
      }
      if (breakdown === undefined || !line.includes('"chunk durable"')) continue;
      const entry = chunkDurableSchema.safeParse(JSON.parse(line));
      if (entry.success && breakdown.open) {
        breakdown.publishMs.push(entry.data.publish_ms);
        breakdown.commitMs.push(entry.data.commit_ms);
      }
    }
  };
  // The breakdown keeps the lines logged while it is open, so it is read as it grows; the
  // stored-chunk times are filtered by their own timestamps, and one read after the window does.
  const poller = breakdown === undefined ? undefined : setInterval(readLog, 100);
  const deadline = Date.now() + 120_000;
  while (!fs.existsSync(stateFile)) {
    if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}: ${tail()}`);
    if (Date.now() > deadline) throw new Error(`npm start wrote no state file in 120 s: ${tail()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const state = stateSchema.parse(JSON.parse(fs.readFileSync(stateFile, "utf8")));
  return {
    child,
    state,
    persistedAt,
    readLog,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        const timer = setTimeout(() => process.kill(-(child.pid ?? 0), "SIGKILL"), 20_000);
        await exited;
        clearTimeout(timer);
      }
      clearInterval(poller);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The Java emulator processes `npm start` started (gcloud passes them --port=N). */
function stackEmulators(state: StackStateFile): Record<string, number> {
  const found: Record<string, number> = {};
  for (const [name, endpoint] of [
    ["Pub/Sub emulator", state.emulators.pubsub],
    ["Firestore emulator", state.emulators.firestore],
  ] as const) {
    const pid = findProcessWithArgument("java", `--port=${endpoint.split(":").pop()}`);
    if (pid !== undefined) found[name] = pid;
  }
  return found;
}

export async function run(context: BenchContext): Promise<void> {
  const streamCount = context.short ? 100 : 500;
  const seconds = 11;
  const t0 = Date.now();
  const step = (what: string) => process.stderr.write(`bench: ${what} (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
  const breakdown: Breakdown | undefined =
    process.env.BENCH_STACK_BREAKDOWN === "1" ? { open: false, publishMs: [], commitMs: [] } : undefined;
  // The baseline first, on the bench's own emulators, before the stack adds its load.
  for (const subscribed of [false, true]) {
    const floor = await emulatorFloor({ streams: streamCount, seconds, subscribed, recordDurable: true });
    context.report(
      `baseline: the emulators alone, the chunks of ${streamCount} real-time streams published straight to Pub/Sub ` +
        `(${subscribed ? "drained by a push subscription to an endpoint that answers at once" : "to a topic nobody reads"}), each then recorded with one Firestore update: ` +
        `publish + record ${formatDistribution(distribution(floor.totalMs))} (publish ${formatDistribution(distribution(floor.publishMs))})`,
    );
  }
  step("emulator baseline measured");
  const stack = await startNpmStart(breakdown);
  try {
    const env = stack.state.envs[ENVIRONMENT];
    if (env === undefined) throw new Error(`the state file has no environment ${ENVIRONMENT}`);
    const instances = env.ingress_instances ?? [];
    step(`npm start is up (${instances.length} ingress process)`);
    const headers = userPerStream(env.token_secret, "bench-user");

    // 1. Real-time streams through the environment's one ingress URL.
    const streams = await openStreams(env.ingress_url, headers, streamCount, 50);
    step(`${streamCount} streams open`);
    let seed = 11;
    const random = () => {
      seed = (seed * 1664525 + 1013904223) >>> 0;
      return seed / 2 ** 32;
    };
    const measured = (): { meter: ReturnType<typeof cpuMeter>; started: number; startedAt: number } => {
      if (breakdown) breakdown.open = true;
      return {
        startedAt: Date.now(),
        meter: cpuMeter({
          "npm start (API, Storage emulator)": stack.child.pid ?? -1,
          ...Object.fromEntries(instances.map((instance, i) => [`ingress process ${i + 1}`, instance.pid])),
          ...stackEmulators(stack.state),
        }),
        started: performance.now(),
      };
    };
    let measuredWindow: ReturnType<typeof measured> | undefined;
    const { latencies, warmup, lagMs } = await measureRealtime(streams, random, seconds, {
      warmupSeconds: REALTIME_WARMUP_SECONDS,
      onMeasured: () => {
        measuredWindow = measured();
      },
    });
    if (breakdown) breakdown.open = false;
    if (measuredWindow === undefined) throw new Error("the measured window never began");
    const windowSeconds = (performance.now() - measuredWindow.started) / 1000;
    const cpu = measuredWindow.meter.stop();
    stack.readLog();
    const windowStartedAt = measuredWindow.startedAt;
    const persisted = stack.persistedAt.filter(
      (at) => at >= windowStartedAt && at < windowStartedAt + seconds * 1000,
    ).length;
    for (const s of streams) s.ws.terminate();
    context.report(
      `npm start, ${streamCount} streams x 16 kHz pcm16 for ${seconds} s through the environment's ingress URL, after ${REALTIME_WARMUP_SECONDS} s of the same load: ack latency beyond the chunk duration ` +
        `${formatDistribution(distribution(latencies))} (aim p99 <= 250 ms); sender lag max ${lagMs.toFixed(0)} ms`,
    );
    context.report(
      `           the first ${REALTIME_WARMUP_SECONDS} s (a freshly started stack): ${formatDistribution(distribution(warmup))}`,
    );
    context.report(
      `           CPU cores over the window: ${Object.entries(cpu)
        .map(([name, s]) => `${name} ${(s / windowSeconds).toFixed(2)}`)
        .join(", ")}`,
    );
    // Whether the workers behind the ingress keep up: chunks they stored during the `seconds`
    // of sending, against the chunks the streams completed (and the ingress acknowledged) in them.
    const completedPerSecond = latencies.length / seconds;
    const persistedPerSecond = persisted / seconds;
    context.report(
      `           behind the ingress: the workers stored ${persistedPerSecond.toFixed(0)} chunks/s while the streams completed ${completedPerSecond.toFixed(0)} chunks/s` +
        (persistedPerSecond < completedPerSecond
          ? ` (the audio backlog grew by ${(((completedPerSecond - persistedPerSecond) * CHUNK_BYTES) / 1e6).toFixed(1)} MB/s)`
          : ""),
    );
    if (breakdown) {
      context.report(
        `           inside the ingress: Pub/Sub publish ${formatDistribution(distribution(breakdown.publishMs))}`,
      );
      context.report(
        `           inside the ingress: Firestore durable-position write ${formatDistribution(distribution(breakdown.commitMs))}`,
      );
    }
    const missing = streamCount * 2 - latencies.length;
    if (missing > 0)
      context.report(`WARNING: at least ${missing} chunk acks did not arrive: the stack did not keep up`);
    step("real-time streams measured");

    // 2. One socket, a 45-minute backlog, through the SDK.
    const second = Buffer.alloc(SAMPLE_RATE * 2);
    crypto.randomFillSync(second);
    const totalSeconds = BACKLOG_MINUTES * 60;
    const token = await signAccessToken(env.token_secret, "bench-backlog", 3600);
    const session = await connect({ url: env.ingress_url, token, codec: "pcm16", sampleRate: SAMPLE_RATE });
    const backlogStarted = performance.now();
    for (let s = 0; s < totalSeconds; s += 1) await session.write(second);
    const result = await session.finalize();
    const backlogSeconds = (performance.now() - backlogStarted) / 1000;
    const bytes = totalSeconds * second.length;
    if (result.position !== bytes) throw new Error(`the backlog finalized at ${result.position} bytes, not ${bytes}`);
    context.report(
      `npm start, one socket uploading a ${BACKLOG_MINUTES}-minute backlog (${(bytes / 1e6).toFixed(1)} MB of 16 kHz pcm16) through the SDK: ` +
        `${(bytes / 1e6 / backlogSeconds).toFixed(1)} MB/s until \`finalized\` (${backlogSeconds.toFixed(1)} s; no ordering key on the audio)`,
    );
  } finally {
    await stack.stop();
  }
}
