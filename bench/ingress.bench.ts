/**
 * The ingress under load, against the Pub/Sub and Firestore emulators, with its baseline
 * measured in the same run:
 *
 * 1. Throughput: frames/s acknowledged by the ingress (published to the emulator and
 *    recorded durable) as a ratio of the direct-publish ceiling: the same chunks published
 *    straight to the emulator with the Pub/Sub client, with as many in flight as the
 *    ingress allows its sockets; and of the same published by the ingress's own publisher
 *    alone (its path without the sockets). Also beside frames/s through a bare `ws` server on
 *    loopback that acknowledges as often (same client, frame size, connections, duration),
 *    and with the ingress's CPU and publish latency during the run.
 * 2. Resident memory of the ingress process per 1,000 idle-but-open streams (each past
 *    `ready`), beside the same for the bare `ws` server.
 * 3. 1,000 concurrent real-time 16 kHz pcm16 streams on one ingress process: ack latency
 *    measured from the moment the last byte of a chunk was sent (so: beyond the chunk
 *    duration), and the ingress's CPU per 1,000 such streams.
 *
 * Every percentile comes from bench/stats.ts. `--short` runs shorter, with fewer streams.
 *
 * Servers run as their own processes (the ingress as Cloud Run runs it: functions/ingress/main.ts),
 * so their memory is theirs alone and the load generator does not share their event loop.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { PubSub } from "@google-cloud/pubsub";
import { WebSocketServer } from "ws";
import { z } from "zod";
import type { CutChunk } from "../functions/ingress/chunker";
import { DEFAULT_LIMITS, memoryBoundPerSocket } from "../functions/ingress/limits";
import {
  type AudioFormat,
  audioChunkAttributes,
  IngressPublisher,
  PUBLISH_BATCHING,
  type SessionTags,
} from "../functions/ingress/publisher";
import { freePort } from "../local/ports";
import { distribution, formatDistribution } from "../local/stats";
import { type EnvironmentResources, environmentResources, parseEnvironmentName } from "../shared/environment";
import { MAX_TEXT_FRAME_BYTES } from "../shared/protocol";
import { emulatorFloor } from "./emulator-floor";
import { cpuMeter, cpuSecondsOf, emulatorProcesses } from "./process-cpu";
import {
  CHUNK_BYTES,
  CHUNK_SECONDS,
  FRAME_BYTES,
  FRAMES_PER_CHUNK,
  maskedFrame,
  measureRealtime,
  openStreams,
  SAMPLE_RATE,
  type Stream,
  type StreamHeaders,
  tcpSocket,
  userPerStream,
} from "./realtime-streams";
import type { BenchContext } from "./run";
import { startTextFlood } from "./text-flood";

const ROOT = path.resolve(__dirname, "..");

const THROUGHPUT_CONNECTIONS = 16;
/** Run lengths and stream counts; `--short` for trying a change. */
interface Sizes {
  readonly throughputSeconds: number;
  readonly streams: number;
  readonly realtimeSeconds: number;
}
const FULL: Sizes = { throughputSeconds: 8, streams: 1000, realtimeSeconds: 11 };
const SHORT: Sizes = { throughputSeconds: 5, streams: 200, realtimeSeconds: 11 };
/** Throughput runs count from this long after the first byte (steady state). */
const WARMUP_SECONDS = 3;
/** The real-time run measures after this long under the same load (reported apart). */
const REALTIME_WARMUP_SECONDS = 10;
let sizes = FULL;

/** Sets the run lengths for `--short` or not: every throughput run and ceiling of this file, and of ingress-versions, reads them. */
export function chooseSizes(short: boolean): Sizes {
  sizes = short ? SHORT : FULL;
  return sizes;
}

// ------------------------------------------------------------ processes

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly url: string;
  rssBytes(): number;
  /** CPU time (user + system) the process has used so far, in seconds. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

function rssOf(pid: number | undefined): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  if (kb === undefined) throw new Error("no VmRSS in /proc status");
  return Number(kb) * 1024;
}

async function waitHealthy(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${output()}`);
    if (
      await fetch(url).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    if (Date.now() > deadline) throw new Error(`server did not start: ${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Compiles the servers to JavaScript, as the container runs them (`node dist/...`): the
 * TypeScript loader would add its own cost to every request. Into node_modules/.cache so
 * the compiled files resolve the project's dependencies.
 */
export function compileServers(root = ROOT): string {
  // One directory per checkout: worktrees share node_modules, and a bench running in one
  // must not run another's compiled ingress.
  const checkout = crypto.createHash("sha256").update(root).digest("hex").slice(0, 8);
  const outDir = path.join(root, `node_modules/.cache/tether-bench-${checkout}`);
  const tsc = require.resolve("typescript/bin/tsc");
  const result = spawnSync(
    process.execPath,
    [
      tsc,
      "--outDir",
      outDir,
      "--rootDir",
      root,
      "--module",
      "commonjs",
      "--target",
      "ES2022",
      "--esModuleInterop",
      "--skipLibCheck",
      "--resolveJsonModule",
      path.join(root, "functions/ingress/main.ts"),
      path.join(root, "bench/ingress.bench.ts"),
    ],
    { cwd: root, encoding: "utf8" },
  );
  if (!fs.existsSync(path.join(outDir, "functions/ingress/main.js")))
    throw new Error(`could not compile the ingress: ${result.stdout}${result.stderr}`);
  return outDir;
}

/** A fresh environment of the bench's own, and the token secret its ingress is started with. */
export interface BenchEnvironment {
  readonly resources: EnvironmentResources;
  readonly secret: string;
}

/** Creates the environment's ingress topics only: nothing subscribes, so the emulator keeps no copies of the audio. */
export async function benchEnvironment(): Promise<BenchEnvironment> {
  const environment = parseEnvironmentName(`bench-${crypto.randomBytes(3).toString("hex")}`);
  const resources = environmentResources(environment, `tether-${environment}`);
  const pubsub = new PubSub({ projectId: resources.projectId });
  await Promise.all([pubsub.createTopic(resources.topics.audio), pubsub.createTopic(resources.topics.events)]);
  await pubsub.close();
  return { resources, secret: crypto.randomBytes(24).toString("base64url") };
}

/** The process environment of an ingress of `bench` listening on `port`. */
export function ingressProcessEnv(
  context: BenchContext,
  bench: BenchEnvironment,
  port: number,
  logLevel: string,
): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...context.emulatorEnv,
    TETHER_ENVIRONMENT: bench.resources.environment,
    TETHER_PROJECT_ID: bench.resources.projectId,
    TETHER_TOKEN_SECRET: bench.secret,
    TETHER_CHUNK_SECONDS: String(CHUNK_SECONDS),
    TETHER_IDLE_TIMEOUT_SECONDS: "600",
    PORT: String(port),
    HOST: "127.0.0.1",
    LOG_LEVEL: logLevel,
  };
}

export async function startServer(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  port: number,
  listenPath: string,
  onLine?: (line: string) => void,
): Promise<ServerProcess> {
  // BENCH_SERVER_NODE_OPTIONS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles the servers.
  const extra = (process.env.BENCH_SERVER_NODE_OPTIONS ?? "").split(" ").filter(Boolean);
  // A server whose lines the bench reads writes them to a file, not a pipe: the logger
  // writes synchronously, and a pipe the busy load generator drains late would stall the
  // server's event loop (its acks included) on every full pipe buffer.
  const logPath = onLine === undefined ? undefined : path.join(os.tmpdir(), `tether-bench-${crypto.randomUUID()}.log`);
  const logFd = logPath === undefined ? undefined : fs.openSync(logPath, "w");
  const child = spawn(process.execPath, [...extra, script, ...args], {
    cwd: ROOT,
    env,
    stdio: ["ignore", logFd ?? "pipe", "pipe"],
  });
  if (logFd !== undefined) fs.closeSync(logFd);
  let output = "";
  let partial = "";
  const take = (text: string): void => {
    output = (output + text).slice(-4000);
    if (onLine === undefined) return;
    const lines = (partial + text).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) onLine(line);
  };
  child.stdout?.on("data", (d: Buffer) => take(d.toString()));
  child.stderr?.on("data", (d: Buffer) => {
    output = (output + d.toString()).slice(-4000);
  });
  let readOffset = 0;
  const readLog = (): void => {
    if (logPath === undefined) return;
    const text = fs.readFileSync(logPath).subarray(readOffset);
    readOffset += text.length;
    if (text.length > 0) take(text.toString());
  };
  const poller = logPath === undefined ? undefined : setInterval(readLog, 100);
  await waitHealthy(`http://127.0.0.1:${port}/healthz`, child, () => output);
  return {
    child,
    url: `ws://127.0.0.1:${port}${listenPath}`,
    rssBytes: () => rssOf(child.pid),
    cpuSeconds: () => cpuSecondsOf(child.pid ?? -1),
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        // A profiled server must exit on its own to write its profile.
        child.kill(extra.length > 0 ? "SIGTERM" : "SIGKILL");
        await exited;
      }
      clearInterval(poller);
      readLog();
      if (logPath !== undefined) fs.rmSync(logPath, { force: true });
    },
  };
}

/** The baseline: a bare `ws` server that answers `ready`, then acks every chunk's worth of frames. */
function rawServerMain(port: number): void {
  const server = http.createServer((_req, res) => res.end("ok"));
  const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 256 * 1024 });
  wss.on("connection", (ws) => {
    let frames = 0;
    ws.send(JSON.stringify({ type: "ready", position: 0 }));
    ws.on("message", () => {
      frames += 1;
      if (frames % FRAMES_PER_CHUNK === 0) ws.send(JSON.stringify({ type: "ack", position: frames * FRAME_BYTES }));
    });
  });
  server.listen(port, "127.0.0.1");
}

// ------------------------------------------------------------ clients

/**
 * Sends frames as fast as each socket drains, for the throughput run; returns acknowledged
 * frames per second, and the server's CPU seconds per second over the same window.
 */
export async function measureThroughput(
  server: ServerProcess,
  url: string,
  headers: StreamHeaders,
  emulators: Readonly<Record<string, number>>,
  window?: { opened: () => void; closed: () => void },
): Promise<{ fps: number; cpuCores: number; cpu: Record<string, number> }> {
  const streams = await openStreams(url, headers, THROUGHPUT_CONNECTIONS, THROUGHPUT_CONNECTIONS);
  const frame = maskedFrame(crypto.randomBytes(FRAME_BYTES));
  let stopped = false;
  // Up to 16 frames per socket per turn of the event loop, while the socket drains: the
  // timer that ends the run (and acks) must get their turn too. A socket the server does
  // not read is waited on ('drain'), not polled: polling would take the 2 cores' CPU from
  // the server under test exactly when it is the bottleneck.
  const pump = (stream: Stream): void => {
    const socket = tcpSocket(stream.ws);
    for (let i = 0; i < 16 && !stopped && socket.writableLength < 512 * 1024; i += 1) socket.write(frame);
    if (stopped) return;
    if (socket.writableLength < 512 * 1024) setImmediate(() => pump(stream));
    else socket.once("drain", () => pump(stream));
  };
  const ackedFrames = () => streams.reduce((sum, s) => sum + s.acked / FRAME_BYTES, 0);
  for (const stream of streams) pump(stream);
  // Steady state only: the first acks come a whole chunk plus a publish and a write after
  // the first byte, which would count against the ingress in a short run.
  await new Promise((resolve) => setTimeout(resolve, WARMUP_SECONDS * 1000));
  const started = process.hrtime.bigint();
  const meter = cpuMeter({ server: server.child.pid ?? -1, ...emulators });
  const framesBefore = ackedFrames();
  window?.opened();
  await new Promise((resolve) => setTimeout(resolve, sizes.throughputSeconds * 1000));
  window?.closed();
  const cpu = meter.stop();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const frames = ackedFrames() - framesBefore;
  stopped = true;
  for (const stream of streams) stream.ws.terminate();
  return { fps: frames / seconds, cpuCores: (cpu.server ?? Number.NaN) / seconds, cpu };
}

/** The `i`th chunk published directly, with the tags and format the ingress gives its chunks. */
function directChunk(resources: EnvironmentResources, i: number, body: Buffer) {
  const tags: SessionTags = {
    environment: resources.environment,
    conversationId: `direct-conversation-${String(i).padStart(6, "0")}`,
    userId: "bench-user",
    sessionId: crypto.randomUUID(),
    sessionOrdinal: 1,
  };
  const format: AudioFormat = { codec: "pcm16", sampleRate: SAMPLE_RATE, chunkSize: CHUNK_BYTES };
  const chunk: CutChunk = { index: i, start: i * CHUNK_BYTES, end: (i + 1) * CHUNK_BYTES, final: false, body };
  return { tags, format, chunk };
}

/**
 * Who publishes directly: the Pub/Sub client library (the issue's ceiling), or the ingress's
 * own publisher (functions/ingress/publisher.ts: its Publish RPC, its gathering), which is
 * the ingress's path without the sockets.
 */
export type DirectPublisher = "client library" | "ingress publisher";

/**
 * The direct-publish ceiling: `via` in this process publishing the same chunks (5 s of
 * 16 kHz pcm16, chunk attributes, the ingress's batching settings) to the emulator, with as
 * many publishes in flight as the ingress allows its sockets, no ordering key. Counted in
 * frames of audio per second, as the ingress is.
 */
export async function measureDirectPublish(
  resources: EnvironmentResources,
  seconds: number,
  emulators: Readonly<Record<string, number>>,
  via: DirectPublisher = "client library",
): Promise<{ fps: number; cpu: Record<string, number> }> {
  const pubsub = new PubSub({ projectId: resources.projectId });
  const data = crypto.randomBytes(CHUNK_BYTES);
  let publish: (i: number) => Promise<string>;
  let close: () => Promise<void>;
  if (via === "client library") {
    const topic = pubsub.topic(resources.topics.audio, { batching: PUBLISH_BATCHING });
    publish = (i) => {
      const { tags, format, chunk } = directChunk(resources, i, data);
      return topic.publishMessage({ data, attributes: audioChunkAttributes(tags, format, chunk) });
    };
    close = async () => undefined;
  } else {
    const publisher = new IngressPublisher(pubsub, resources);
    publish = (i) => {
      const { tags, format, chunk } = directChunk(resources, i, data);
      return publisher.publishChunk(tags, format, chunk);
    };
    close = () => publisher.close();
  }
  let chunks = 0;
  let stopped = false;
  const loop = async (): Promise<void> => {
    while (!stopped) {
      await publish(chunks);
      chunks += 1;
    }
  };
  const loops = Array.from({ length: THROUGHPUT_CONNECTIONS * DEFAULT_LIMITS.maxChunksInFlightPerSocket }, loop);
  await new Promise((resolve) => setTimeout(resolve, WARMUP_SECONDS * 1000));
  const started = process.hrtime.bigint();
  const meter = cpuMeter(emulators);
  const chunksBefore = chunks;
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const cpu = meter.stop();
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  const counted = chunks - chunksBefore;
  stopped = true;
  await Promise.allSettled(loops);
  await close();
  await pubsub.close();
  return { fps: (counted * FRAMES_PER_CHUNK) / elapsed, cpu };
}

/** `ingress 12 ms, Pub/Sub emulator 30 ms, ...`: CPU milliseconds per MB of audio moved, per process. */
function cpuPerMb(cpu: Readonly<Record<string, number>>, fps: number, seconds: number): string {
  const megabytes = (fps * seconds * FRAME_BYTES) / 1e6;
  return Object.entries(cpu)
    .map(([name, s]) => `${name} ${((1000 * s) / megabytes).toFixed(1)} ms`)
    .join(", ");
}

/**
 * The floor under the ingress's CPU per real-time stream: a bare `ws` server (it acks each
 * chunk's worth of frames and does nothing else) receiving the same real-time streams, in
 * CPU cores per 1,000 streams. What the socket reads, the WebSocket parsing and the event
 * loop cost per frame, before any work of the ingress.
 */
async function bareRealtimeCoresPerThousand(raw: ServerProcess, random: () => number): Promise<number> {
  const streams = await openStreams(raw.url, {}, sizes.streams, 100);
  let before = { cpu: 0, at: 0 };
  await measureRealtime(streams, random, sizes.realtimeSeconds, {
    warmupSeconds: 3,
    onMeasured: () => {
      before = { cpu: raw.cpuSeconds(), at: performance.now() };
    },
  });
  const cores = (raw.cpuSeconds() - before.cpu) / ((performance.now() - before.at) / 1000);
  for (const s of streams) s.ws.terminate();
  return (cores * 1000) / sizes.streams;
}

// ------------------------------------------------------------ the bench

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

async function idleRss(
  server: ServerProcess,
  url: string,
  headers: StreamHeaders,
  concurrency: number,
): Promise<{ streams: Stream[]; perThousand: number; seconds: number }> {
  const settle = () => new Promise((resolve) => setTimeout(resolve, 1500));
  // Warm up code paths (and the Firestore/Pub/Sub clients) before the baseline.
  const warm = await openStreams(url, headers, 20, 20);
  for (const s of warm) s.ws.close();
  await settle();
  const before = server.rssBytes();
  const started = Date.now();
  const streams = await openStreams(url, headers, sizes.streams, concurrency);
  const seconds = (Date.now() - started) / 1000;
  await settle();
  const after = server.rssBytes();
  return { streams, perThousand: ((after - before) / sizes.streams) * 1000, seconds };
}

export async function run(context: BenchContext): Promise<void> {
  chooseSizes(context.short);
  const bench = await benchEnvironment();
  const { resources, secret } = bench;
  const headers = userPerStream(secret, "bench-user");
  const ingressEnv = (port: number, logLevel = "warn") => ingressProcessEnv(context, bench, port, logLevel);
  const t0 = Date.now();
  const step = (what: string) => process.stderr.write(`bench: ${what} (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
  const compiled = compileServers();
  step("compiled");
  const startIngress = async (onLine?: (line: string) => void) => {
    const port = await freePort();
    const env = ingressEnv(port, onLine ? "debug" : "warn");
    return await startServer(path.join(compiled, "functions/ingress/main.js"), [], env, port, "/v1/listen", onLine);
  };
  const startRaw = async () => {
    const port = await freePort();
    return await startServer(
      path.join(compiled, "bench/ingress.bench.js"),
      ["--raw-server", String(port)],
      { ...process.env },
      port,
      "/",
    );
  };

  // BENCH_INGRESS_PHASES=throughput or =streams runs one half (for profiling).
  const phases = (process.env.BENCH_INGRESS_PHASES ?? "throughput,streams").split(",");
  const fps = (x: number) =>
    `${Math.round(x).toLocaleString("en")} frames/s (${((x * FRAME_BYTES) / 1e6).toFixed(1)} MB/s)`;
  let rawIdlePerThousand = Number.NaN;
  if (phases.includes("throughput")) {
    // 1. Throughput, side by side: the ceiling, the raw ws server, the ingress, the ceiling
    // again (the machine's load drifts; the ratio is to the better of the two).
    const emulators = emulatorProcesses(context.emulatorEnv);
    const ceiling = () => measureDirectPublish(resources, sizes.throughputSeconds, emulators);
    const ownPath = () => measureDirectPublish(resources, sizes.throughputSeconds, emulators, "ingress publisher");
    const directBefore = await ceiling();
    const ownBefore = await ownPath();
    step("direct publish measured");
    const raw = await startRaw();
    step("raw server up");
    const rawRun = await measureThroughput(raw, raw.url, {}, {});
    step("raw throughput measured");
    const rawIdle = await idleRss(raw, raw.url, {}, 100);
    rawIdlePerThousand = rawIdle.perThousand;
    for (const s of rawIdle.streams) s.ws.terminate();
    await raw.stop();

    // Only chunks made durable inside the measurement window count: one sample set.
    const durable = { publishMs: [] as number[], commitMs: [] as number[], open: false };
    const ingress = await startIngress((line) => {
      if (!durable.open) return;
      const entry = chunkDurableLine(line);
      if (entry === undefined) return;
      durable.publishMs.push(entry.publish_ms);
      durable.commitMs.push(entry.commit_ms);
    });
    step("ingress up");
    const ingressRun = await measureThroughput(ingress, ingress.url, headers, emulators, {
      opened: () => (durable.open = true),
      closed: () => (durable.open = false),
    });
    step("ingress throughput measured");
    await ingress.stop();
    const directAfter = await ceiling();
    const ownAfter = await ownPath();
    step("direct publish measured again");
    const best = directAfter.fps > directBefore.fps ? directAfter : directBefore;
    const directFps = best.fps;
    context.report(
      `throughput: ${fps(ingressRun.fps)} through the ingress (acked: published to Pub/Sub and recorded in Firestore) = ` +
        `${((100 * ingressRun.fps) / directFps).toFixed(0)}% of the direct-publish ceiling measured in this run, ${fps(directFps)} (aim >= 60%)`,
    );
    context.report(
      `           ceiling: the Pub/Sub client alone, the same ${CHUNK_SECONDS} s chunks, ${THROUGHPUT_CONNECTIONS * DEFAULT_LIMITS.maxChunksInFlightPerSocket} publishes in flight, no ordering key ` +
        `(before ${fps(directBefore.fps)}, after ${fps(directAfter.fps)}); ` +
        `raw ws loopback: ${fps(rawRun.fps)} (ingress/raw ${(ingressRun.fps / rawRun.fps).toFixed(2)})`,
    );
    const ownFps = Math.max(ownBefore.fps, ownAfter.fps);
    context.report(
      `           the ingress's own publisher alone (no sockets): ${fps(ownFps)} (before ${fps(ownBefore.fps)}, after ${fps(ownAfter.fps)}); ` +
        `the ingress carries ${((100 * ingressRun.fps) / ownFps).toFixed(0)}% of it`,
    );
    context.report(
      `           ${THROUGHPUT_CONNECTIONS} connections, ${FRAME_BYTES}-byte frames (100 ms of 16 kHz pcm16), ${sizes.throughputSeconds} s each after ${WARMUP_SECONDS} s of warm-up, acks every ${CHUNK_SECONDS} s of audio; ` +
        `ingress CPU ${ingressRun.cpuCores.toFixed(2)} cores (${((1000 * ingressRun.cpuCores) / ((ingressRun.fps * FRAME_BYTES) / 1e6)).toFixed(1)} ms CPU per MB)`,
    );
    const { server: ingressCpu = Number.NaN, ...alongside } = ingressRun.cpu;
    const window = sizes.throughputSeconds;
    context.report(
      `           CPU per MB of audio, through the ingress: ${cpuPerMb({ ingress: ingressCpu, ...alongside }, ingressRun.fps, window)}`,
    );
    context.report(`           CPU per MB of audio, direct publish: ${cpuPerMb(best.cpu, directFps, window)}`);
    context.report(
      `           under that load, Pub/Sub publish ${formatDistribution(distribution(durable.publishMs))}`,
    );
    context.report(
      `           under that load, Firestore durable-position write ${formatDistribution(distribution(durable.commitMs))}`,
    );
  }
  if (!phases.includes("streams")) return;

  let seed = 7;
  const random = () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
  const raw = await startRaw();
  const bareCores = await bareRealtimeCoresPerThousand(raw, random).finally(() => raw.stop());
  step("bare ws server under real-time streams measured");

  // 2. Idle streams, on a fresh ingress process.
  // The ingress's own breakdown of each ack: Pub/Sub publish, then the Firestore write.
  const publishMs: number[] = [];
  const commitMs: number[] = [];
  let measuring = false;
  const ingress = await startIngress((line) => {
    if (!measuring) return;
    const entry = chunkDurableLine(line);
    if (entry === undefined) return;
    publishMs.push(entry.publish_ms);
    commitMs.push(entry.commit_ms);
  });
  try {
    step("ingress up");
    const idle = await idleRss(ingress, ingress.url, headers, 50);
    step("idle streams measured");
    context.report(
      `idle streams: ${mb(idle.perThousand)} resident per 1,000 open streams on the ingress (${Math.round(idle.perThousand / 1000 / 1024)} KiB each; ` +
        `raw ws: ${Number.isNaN(rawIdlePerThousand) ? "not measured without the throughput phase" : `${mb(rawIdlePerThousand)} per 1,000`}); ${sizes.streams} opened in ${idle.seconds.toFixed(1)} s`,
    );
    context.report(
      `memory bound per active stream (stated, audio + message buffers): ${Math.round(memoryBoundPerSocket(DEFAULT_LIMITS, "pcm16", SAMPLE_RATE, CHUNK_SECONDS) / 1024)} KiB at 16 kHz pcm16 with ${CHUNK_SECONDS} s chunks`,
    );

    // 3. The same streams, now all sending in real time.
    let cpuBefore = 0;
    let cpuStarted = 0;
    let ackedBefore = 0;
    const ackedBytes = () => idle.streams.reduce((sum, s) => sum + s.acked, 0);
    const { latencies, warmup, lagMs } = await measureRealtime(idle.streams, random, sizes.realtimeSeconds, {
      warmupSeconds: REALTIME_WARMUP_SECONDS,
      onMeasured: () => {
        measuring = true;
        cpuBefore = ingress.cpuSeconds();
        cpuStarted = performance.now();
        ackedBefore = ackedBytes();
      },
    });
    const cpuSeconds = ingress.cpuSeconds() - cpuBefore;
    const cpuCores = cpuSeconds / ((performance.now() - cpuStarted) / 1000);
    // Per audio acknowledged: what the CPU figure is when the machine (shared, 2 cores) holds
    // the load back and fewer than real-time stream-seconds went through in the window.
    const ackedAudioSeconds = (ackedBytes() - ackedBefore) / (SAMPLE_RATE * 2);
    const perAckedThousand = (cpuSeconds / ackedAudioSeconds) * 1000;
    measuring = false;
    const rss = ingress.rssBytes();
    const n = sizes.streams;
    context.report(
      `real time: ${n} streams x 16 kHz pcm16 for ${sizes.realtimeSeconds} s on one ingress process, after ${REALTIME_WARMUP_SECONDS} s of the same load: ack latency beyond the chunk duration ` +
        `${formatDistribution(distribution(latencies))} (aim p99 < 250 ms); ingress RSS ${mb(rss)}; sender lag max ${lagMs.toFixed(0)} ms`,
    );
    context.report(
      `           the first ${REALTIME_WARMUP_SECONDS} s (a fresh ingress process): ${formatDistribution(distribution(warmup))}`,
    );
    context.report(
      `           ingress CPU ${cpuCores.toFixed(2)} cores over the window = ${((cpuCores * 1000) / n).toFixed(2)} cores per 1,000 real-time streams ` +
        `(${((cpuCores * 1e6) / n).toFixed(0)} µs CPU per stream-second of audio)`,
    );
    context.report(
      `           floor: a bare ws server receiving the same ${n} real-time streams (it acks each chunk, nothing else) ${bareCores.toFixed(2)} cores per 1,000 streams; ` +
        `the ingress's own work above it ${((cpuCores * 1000) / n - bareCores).toFixed(2)}`,
    );
    context.report(
      `           per audio acknowledged: ${perAckedThousand.toFixed(2)} cores per 1,000 real-time streams (${(1000 * perAckedThousand).toFixed(0)} µs CPU per ` +
        `stream-second acked; acked ${(ackedAudioSeconds / n / sizes.realtimeSeconds).toFixed(2)}x the audio sent in the window) (aim <= 0.25)`,
    );
    context.report(`           inside the ingress: Pub/Sub publish ${formatDistribution(distribution(publishMs))}`);
    context.report(
      `           inside the ingress: Firestore durable-position write ${formatDistribution(distribution(commitMs))}`,
    );
    // Every stream completes at least this many chunks in the run (two of 5 s, one of 10 s).
    const chunksEach = Math.floor(sizes.realtimeSeconds / CHUNK_SECONDS);
    const missing = n * chunksEach - latencies.length;
    if (missing > 0)
      context.report(
        `WARNING: at least ${missing} chunk acks did not arrive: the pipeline did not keep up, so the CPU figure above is not per real-time stream`,
      );
    for (const s of idle.streams) s.ws.terminate();

    // 3b. The same load on fresh streams, while one more client floods 256 KiB text frames.
    const peers = await openStreams(ingress.url, userPerStream(secret, "bench-flood-peer"), n, 50);
    const flood = await startTextFlood(ingress.url, await userPerStream(secret, "bench-flooder")(0));
    const floodStarted = performance.now();
    let rssPeak = ingress.rssBytes();
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, ingress.rssBytes());
    }, 250);
    const flooded = await measureRealtime(peers, random, sizes.realtimeSeconds, { warmupSeconds: 0 });
    clearInterval(sampler);
    const floodSeconds = (performance.now() - floodStarted) / 1000;
    const frames = flood.sent();
    const floodClose = await flood.stop();
    context.report(
      `text flood: ${n} other real-time streams for ${sizes.realtimeSeconds} s while one client floods 256 KiB text frames: ack latency beyond the chunk duration ` +
        `${formatDistribution(distribution(flooded.latencies))} (without the flood, above); ingress RSS peak ${mb(rssPeak)} (without: ${mb(rss)}; ` +
        `process budget of bytes in flight ${mb(DEFAULT_LIMITS.maxInFlightBytes)}, text in flight per socket ${mb(DEFAULT_LIMITS.maxEventBytesInFlightPerSocket)})`,
    );
    context.report(
      `           the flooder wrote ${frames} frames (${mb(frames * MAX_TEXT_FRAME_BYTES)}, ${((frames * MAX_TEXT_FRAME_BYTES) / 1e6 / floodSeconds).toFixed(1)} MB/s) into its socket; ` +
        `closed with ${floodClose}${floodClose === 1013 ? " (overloaded: held back too long)" : ""}; sender lag max ${flooded.lagMs.toFixed(0)} ms`,
    );
    const floodMissing = n * chunksEach - flooded.latencies.length;
    if (floodMissing > 0)
      context.report(`WARNING: at least ${floodMissing} chunk acks did not arrive during the text flood`);
    for (const s of peers) s.ws.terminate();
  } finally {
    await ingress.stop();
  }

  // 4. The floor under that figure, with the ingress stopped: the emulators alone doing the
  // work each ack waits for (publish, then one Firestore update), at the same rate.
  const floor = await emulatorFloor({
    streams: sizes.streams,
    seconds: sizes.realtimeSeconds,
    subscribed: false,
    recordDurable: true,
  });
  context.report(
    `           floor: the emulators alone at the chunk rate of ${sizes.streams} real-time streams, each chunk published then recorded (no ingress): ` +
      `${formatDistribution(distribution(floor.totalMs))} (publish ${formatDistribution(distribution(floor.publishMs))})`,
  );
}

const chunkDurableSchema = z.object({
  message: z.literal("chunk durable"),
  publish_ms: z.number(),
  commit_ms: z.number(),
});

/** The ingress's debug line for one chunk made durable, or undefined for any other line. */
function chunkDurableLine(line: string): z.infer<typeof chunkDurableSchema> | undefined {
  if (!line.includes('"chunk durable"')) return undefined;
  try {
    const parsed = chunkDurableSchema.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

if (require.main === module && process.argv[2] === "--raw-server") rawServerMain(Number(process.argv[3]));
