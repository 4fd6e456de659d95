/**
 * What an audio hour costs (`npm run bench -- cost`): conversations streamed through the
 * local stack with the SDK (16 kHz pcm16, then Opus), each with drops and resumes,
 * transcript segments and a speaker assignment, finalized and extracted. Every Firestore,
 * Pub/Sub and Storage operation the stack makes is counted at its clients
 * (test/support/cost-counters.ts; the ingress runs as an instance process, as deployed, and counts
 * its own through bench/cost-preload.ts), then priced per audio hour from bench/prices.json.
 * Each codec runs three times, paced as a real-time client is: two lengths of audio alone,
 * and the longer length with text events (a segment every 12 s, every other one assigned);
 * bench/cost-report.ts solves each count for a part per conversation, per audio minute and
 * per event, and judges issue 32's targets. The stack's own log lines go to a file, named in
 * the header, so that the output is the report and the progress.
 *
 * Beside them: the ingress instance's CPU seconds per audio hour, and what its Cloud Run
 * instance costs per audio hour given how many sockets share an instance (CPU is allocated,
 * and billed, for as long as a socket is open, whatever the CPU used).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Firestore } from "@google-cloud/firestore";
import pino from "pino";
import { connect } from "../client";
import { encodeOpusPackets } from "../client/opus-encoder";
import { speechLikePcm } from "../client/speech-like";
import type { EmulatorEndpoints } from "../local/emulators";
import { startLocalStack } from "../local/stack";
import type { Codec } from "../shared/audio-format";
import { signAccessToken } from "../shared/auth";
import { parseEnvironmentName } from "../shared/environment";
import { readConversation } from "../shared/firestore-schema";
import { createLogger } from "../shared/logger";
import {
  addCounts,
  type Counts,
  counts,
  emptyCounts,
  excludeFromCounts,
  installCounters,
  messageBytes,
  startStorageCounter,
} from "../test/support/cost-counters";
import { CHUNK_SECONDS } from "./chunk-seconds";
import {
  type CodecFigures,
  type Delivered,
  loadPrices,
  type Measured,
  reportCodec,
  reportVerdicts,
} from "./cost-report";
import { cpuSecondsOf } from "./process-cpu";
import type { BenchContext } from "./run";

const RATE = 16000;
const FRAME_MS = 100;

interface Phase {
  readonly codec: Codec;
  readonly conversations: number;
  readonly seconds: number;
  /** Whether its conversations carry text events (segments, assignments), or audio alone. */
  readonly events: boolean;
}

function framesOf(codec: Codec, seconds: number, seed: number): Buffer[] {
  const pcm = speechLikePcm(seconds, RATE, seed);
  if (codec === "opus") return encodeOpusPackets(pcm, RATE);
  const frameBytes = (RATE * 2 * FRAME_MS) / 1000;
  const frames: Buffer[] = [];
  for (let at = 0; at < pcm.length; at += frameBytes) frames.push(pcm.subarray(at, at + frameBytes));
  return frames;
}

/**
 * Messages each worker finished handling, per conversation (`persistAudio:<id>`,
 * `processEvents:<id>`). A live client sends in real time, one chunk every few seconds: the
 * ingress records each chunk's durable position on its own, and the workers keep up, so at
 * most the last chunk or event lands after `finalize`. The bench sends faster, so it waits
 * for each whole chunk and each event to be handled before it sends on: a burst would share
 * one durable-position write among several chunks, and each chunk or event landing after
 * `finalize` would run a full completion check, neither of which real time does.
 */
type Handled = Map<string, number>;

/**
 * One conversation: audio with three drops, then finalize; with events, a segment every 12 s
 * (every other one assigned). Resolves with its id and the events it sent.
 */
async function streamConversation(
  url: string,
  secret: string,
  phase: Phase,
  n: number,
  handled: Handled,
): Promise<{ id: string; events: number }> {
  const user = `cost-user-${n}`;
  const frames = framesOf(phase.codec, phase.seconds, n + 1);
  const session = await connect({
    url,
    token: () => signAccessToken(secret, user, 3600),
    codec: phase.codec,
    sampleRate: RATE,
    backoff: { initialDelayMs: 10, maxDelayMs: 100 },
  });
  const frameSeconds = phase.seconds / frames.length;
  const unitsPerSecond = phase.codec === "pcm16" ? RATE * 2 : frames.length / phase.seconds;
  const drops = new Set([0.2, 0.5, 0.8].map((f) => Math.floor(frames.length * f)));
  let nextSegment = 0;
  let events = 0;
  const handledBy = (worker: string) => handled.get(`${worker}:${session.conversationId}`) ?? 0;
  for (const [i, frame] of frames.entries()) {
    await session.write(frame);
    if (drops.has(i)) session.simulateDisconnect();
    const now = (i + 1) * frameSeconds;
    if (phase.events && now >= (nextSegment + 1) * 12) {
      const id = `seg-${nextSegment}`;
      session.sendSegments([
        { id, start: nextSegment * 12, end: nextSegment * 12 + 12, speaker: `S${nextSegment % 2}` },
      ]);
      events += 1;
      if (nextSegment % 2 === 0) {
        session.assignSpeaker(`person-${n}`, [id]);
        events += 1;
      }
      nextSegment += 1;
    }
    // Keep the replay buffer to three chunks, as a live client's is.
    while (session.stats.written - session.stats.acked > 3 * CHUNK_SECONDS * unitsPerSecond && !session.error) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const whole = Math.floor(session.stats.written / (CHUNK_SECONDS * unitsPerSecond));
    while ((whole > handledBy("persistAudio") || events > handledBy("processEvents")) && !session.error) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
  await session.finalize();
  return { id: session.conversationId, events };
}

async function until(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * Sends what this process writes to stdout and stderr (the ingress instance's piped log
 * lines, the functions framework's) to `file` until the returned function is called.
 */
function divertOutput(file: string): () => void {
  const fd = fs.openSync(file, "a");
  const saved = { stdout: process.stdout.write, stderr: process.stderr.write };
  const write = ((chunk: string | Uint8Array, encoding?: unknown, callback?: unknown): boolean => {
    fs.writeSync(fd, typeof chunk === "string" ? Buffer.from(chunk) : chunk);
    const done = typeof encoding === "function" ? encoding : callback;
    if (typeof done === "function") process.nextTick(done as () => void);
    return true;
  }) as typeof process.stdout.write;
  process.stdout.write = write;
  process.stderr.write = write;
  return () => {
    process.stdout.write = saved.stdout;
    process.stderr.write = saved.stderr;
    fs.closeSync(fd);
  };
}

/** One phase, its progress on stderr and the stack's log lines in `logFile`. */
async function runPhase(context: BenchContext, storage: string, phase: Phase, logFile: string): Promise<Measured> {
  process.stderr.write(
    `bench: cost ${phase.codec}, ${phase.conversations} x ${phase.seconds} s, ${phase.events ? "with events" : "audio alone"}...\n`,
  );
  const restoreOutput = divertOutput(logFile);
  try {
    return await measurePhase(context, storage, phase, logFile);
  } finally {
    restoreOutput();
  }
}

async function measurePhase(context: BenchContext, storage: string, phase: Phase, logFile: string): Promise<Measured> {
  const environment = parseEnvironmentName(`cost-${phase.codec}-${phase.seconds}${phase.events ? "-e" : ""}`);
  const countsDir = fs.mkdtempSync(path.join(os.tmpdir(), "tether-cost-"));
  const delivered = new Map<string, Delivered>();
  const handled: Handled = new Map();
  const endpoints: EmulatorEndpoints = {
    pubsub: context.emulatorEnv.PUBSUB_EMULATOR_HOST ?? "",
    firestore: context.emulatorEnv.FIRESTORE_EMULATOR_HOST ?? "",
    storage,
  };
  // The ingress instance counts its own operations (bench/cost-preload.ts).
  const saved = {
    NODE_OPTIONS: process.env.NODE_OPTIONS,
    TETHER_BENCH_COUNTS_DIR: process.env.TETHER_BENCH_COUNTS_DIR,
  };
  process.env.NODE_OPTIONS = `${saved.NODE_OPTIONS ?? ""} --require ${path.join(__dirname, "cost-preload.cjs")}`;
  process.env.TETHER_BENCH_COUNTS_DIR = countsDir;
  let stack: Awaited<ReturnType<typeof startLocalStack>>;
  try {
    stack = await startLocalStack({
      environments: [environment],
      host: context.host,
      basePort: 0,
      emulators: { existing: endpoints },
      ingressInstances: 1,
      chunkSeconds: CHUNK_SECONDS,
      idleTimeoutSeconds: 600,
      logger: createLogger({ level: "warn", destination: pino.destination({ dest: logFile, sync: true }) }),
      wrapWorker: (worker, _env, handler) => async (event) => {
        const message = (event.data as { message?: { data?: string; attributes?: object } } | undefined)?.message;
        const entry = delivered.get(worker) ?? { bytes: 0, deliveries: 0, ms: [] };
        entry.deliveries += 1;
        entry.bytes += messageBytes(Buffer.from(message?.data ?? "", "base64"), message?.attributes);
        delivered.set(worker, entry);
        const started = performance.now();
        try {
          await handler(event);
          const conversationId = (message?.attributes as { conversation_id?: string } | undefined)?.conversation_id;
          const key = `${worker}:${conversationId}`;
          handled.set(key, (handled.get(key) ?? 0) + 1);
        } finally {
          entry.ms.push(performance.now() - started);
        }
      },
    });
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
  const probe = new Firestore({
    projectId: stack.runtimes.get(environment)?.resources.projectId,
    databaseId: stack.runtimes.get(environment)?.resources.databaseId,
  });
  excludeFromCounts(probe);
  try {
    const entry = stack.state.envs[environment];
    if (!entry) throw new Error("the stack has no state for its environment");
    const pids = stack.ingressInstances(environment).map((i) => i.pid);
    const cpuBefore = pids.reduce((sum, pid) => sum + cpuSecondsOf(pid), 0);
    Object.assign(counts, emptyCounts());
    delivered.clear();
    const ids: string[] = [];
    let events = 0;
    await Promise.all(
      Array.from({ length: phase.conversations }, async (_, n) => {
        const streamed = await streamConversation(entry.ingress_url, entry.token_secret, phase, n, handled);
        ids.push(streamed.id);
        events += streamed.events;
      }),
    );
    // Done when every conversation is extracted for its last generation, and the stack is quiet.
    await until(
      "every conversation extracted",
      async () => {
        for (const id of ids) {
          const doc = (await readConversation(probe, id))?.data;
          const extraction = doc?.extraction;
          if (doc?.status !== "finalized" || !extraction || extraction.status === "pending") return false;
          if (extraction.generation !== doc.extraction_generation) return false;
        }
        return true;
      },
      300_000,
    );
    let last = "";
    await until(
      "the stack to go quiet",
      async () => {
        const now = JSON.stringify([counts, [...delivered].map(([w, d]) => [w, d.deliveries])]);
        const quiet = now === last;
        last = now;
        return quiet;
      },
      60_000,
    );
    const ingressCpuSeconds = pids.reduce((sum, pid) => sum + cpuSecondsOf(pid), 0) - cpuBefore;
    const parentCounts = { ...counts, firestoreCalls: { ...counts.firestoreCalls } };
    await stack.stop();
    // The ingress instance wrote its counts when it exited.
    const total = emptyCounts();
    addCounts(total, parentCounts);
    for (const file of fs.readdirSync(countsDir)) {
      const child = JSON.parse(fs.readFileSync(path.join(countsDir, file), "utf8")) as { counts: Counts };
      addCounts(total, child.counts);
    }
    return {
      conversations: phase.conversations,
      seconds: phase.seconds,
      events,
      counts: total,
      delivered: new Map(delivered),
      ingressCpuSeconds,
      audioSeconds: phase.conversations * phase.seconds,
      storedBytes: total.storageUploadBytes,
    };
  } finally {
    await probe.terminate();
    await stack.stop();
    fs.rmSync(countsDir, { recursive: true, force: true });
  }
}

export async function run(context: BenchContext): Promise<void> {
  const prices = loadPrices();
  installCounters();
  const storageTarget = context.emulatorEnv.STORAGE_EMULATOR_HOST;
  if (!storageTarget) throw new Error("no Storage emulator");
  const storage = await startStorageCounter(context.host, storageTarget);
  const logFile = path.join(os.tmpdir(), `tether-bench-cost-${new Date().toISOString().replace(/[:.]/g, "-")}.log`);
  const conversations = context.short ? 2 : 4;
  const lengths = context.short ? ([60, 180] as const) : ([120, 480] as const);
  context.report(`prices of ${prices.date}, ${prices.region} (bench/prices.json); ${CHUNK_SECONDS} s chunks`);
  context.report(`the stack's log lines: ${logFile}`);
  context.report(
    `per codec, three runs: ${conversations} conversations x ${lengths[0]} s and x ${lengths[1]} s of audio alone ` +
      "(three drops and resumes each, finalize, extraction), and x " +
      `${lengths[1]} s with text events (a segment every 12 s, every other one assigned). The two audio-only runs ` +
      "give a part per conversation and a part per audio minute (audio alone, priced per audio hour); the run " +
      "with events, less audio alone at its length, over the events it sent, gives the cost per event (priced " +
      "per 1,000). The example mix: audio alone plus the events at that run's rate.",
  );
  try {
    const figures: CodecFigures[] = [];
    for (const codec of ["pcm16", "opus"] as const) {
      const run = (seconds: number, events: boolean) =>
        runPhase(context, storage.url, { codec, conversations, seconds, events }, logFile);
      const short = await run(lengths[0], false);
      const long = await run(lengths[1], false);
      const withEvents = await run(lengths[1], true);
      figures.push(reportCodec(context, prices, codec, CHUNK_SECONDS, { short, long, withEvents }));
    }
    reportVerdicts(context, figures);
  } finally {
    await storage.close();
  }
}
