/**
 * What an audio hour costs (`npm run bench -- cost`): conversations streamed through the
 * local stack with the SDK (16 kHz pcm16, then Opus), each with drops and resumes,
 * transcript segments and a speaker assignment, finalized and extracted. Every Firestore,
 * Pub/Sub and Storage operation the stack makes is counted at its clients
 * (bench/cost-counters.ts; the ingress runs as an instance process, as deployed, and counts
 * its own through bench/cost-preload.ts), then priced per audio hour from bench/prices.json.
 *
 * Beside them: the ingress instance's CPU seconds per audio hour, and what its Cloud Run
 * instance costs per audio hour given how many sockets share an instance (CPU is allocated,
 * and billed, for as long as a socket is open, whatever the CPU used).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Firestore } from "@google-cloud/firestore";
import { z } from "zod";
import { connect } from "../client";
import { encodeOpusPackets } from "../client/opus-encoder";
import { speechLikePcm } from "../client/speech-like";
import { INGRESS_CONCURRENCY } from "../infra/ingress";
import type { EmulatorEndpoints } from "../local/emulators";
import { startLocalStack } from "../local/stack";
import { distribution, formatDistribution } from "../local/stats";
import type { Codec } from "../shared/audio-format";
import { signAccessToken } from "../shared/auth";
import { parseEnvironmentName } from "../shared/environment";
import { CONVERTERS, conversationRef } from "../shared/firestore-schema";
import { createLogger } from "../shared/logger";
import {
  addCounts,
  addScaledCounts,
  type Counts,
  counts,
  emptyCounts,
  excludeFromCounts,
  installCounters,
  messageBytes,
  startStorageCounter,
} from "./cost-counters";
import { cpuSecondsOf } from "./process-cpu";
import type { BenchContext } from "./run";

const pricesSchema = z.object({
  date: z.string(),
  region: z.string(),
  firestore: z.object({ per_100k_reads: z.number(), per_100k_writes: z.number() }),
  storage: z.object({ per_1k_class_a: z.number(), per_10k_class_b: z.number(), per_gb_month_standard: z.number() }),
  pubsub: z.object({ per_tib_throughput: z.number(), min_bytes_per_request: z.number() }),
  cloud_run: z.object({ per_vcpu_second: z.number(), per_gib_second: z.number() }),
});
type Prices = z.infer<typeof pricesSchema>;

const RATE = 16000;
/** Conversation lengths the per-audio-hour figures are stated for. */
const REALISTIC_MINUTES = [20, 60] as const;
const FRAME_MS = 100;
/** The deployed ingress's instance (infra/ingress.ts): 1 vCPU, 1 GiB. */
const INGRESS_VCPU = 1;
const INGRESS_GIB = 1;

interface Delivered {
  bytes: number;
  deliveries: number;
  readonly ms: number[];
}

interface Phase {
  readonly codec: Codec;
  readonly conversations: number;
  readonly seconds: number;
}

interface Measured {
  readonly conversations: number;
  /** Audio seconds of each conversation. */
  readonly seconds: number;
  readonly counts: Counts;
  /** Delivered (pushed) Pub/Sub bytes, deliveries and each delivery's handler time (ms), per worker. */
  readonly delivered: Map<string, Delivered>;
  readonly ingressCpuSeconds: number;
  readonly audioSeconds: number;
  /** Bytes uploaded to Storage (chunks and samples, with their request framing). */
  readonly storedBytes: number;
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
/** The chunk length the stack runs with: TETHER_CHUNK_SECONDS (as a stack's setting), else 5 s. */
const CHUNK_SECONDS = z.coerce.number().int().min(1).max(60).default(5).parse(process.env.TETHER_CHUNK_SECONDS);

/** One conversation: audio with three drops, a segment every 12 s (every other one assigned), finalize. */
async function streamConversation(
  url: string,
  secret: string,
  phase: Phase,
  n: number,
  handled: Handled,
): Promise<string> {
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
    if (now >= (nextSegment + 1) * 12) {
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
  return session.conversationId;
}

async function until(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function runPhase(context: BenchContext, storage: string, phase: Phase): Promise<Measured> {
  const environment = parseEnvironmentName(`cost-${phase.codec}-${phase.seconds}`);
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
      logger: createLogger({ level: "warn" }),
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
    await Promise.all(
      Array.from({ length: phase.conversations }, async (_, n) => {
        ids.push(await streamConversation(entry.ingress_url, entry.token_secret, phase, n, handled));
      }),
    );
    // Done when every conversation is extracted for its last generation, and the stack is quiet.
    await until(
      "every conversation extracted",
      async () => {
        for (const id of ids) {
          const doc = (await conversationRef(probe, id).withConverter(CONVERTERS.conversation).get()).data();
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

const money = (usd: number): string => `$${usd.toFixed(5)}`;

/** The sum of `parts`, each measurement scaled by its weight (handler times are not derived: none). */
function weighted(parts: ReadonlyArray<readonly [Measured, number]>, conversations: number, seconds: number): Measured {
  const counts = emptyCounts();
  const delivered = new Map<string, Delivered>();
  let ingressCpuSeconds = 0;
  let storedBytes = 0;
  for (const [m, k] of parts) {
    addScaledCounts(counts, m.counts, k);
    for (const [worker, d] of m.delivered) {
      const entry = delivered.get(worker) ?? { bytes: 0, deliveries: 0, ms: [] };
      entry.bytes += k * d.bytes;
      entry.deliveries += k * d.deliveries;
      delivered.set(worker, entry);
    }
    ingressCpuSeconds += k * m.ingressCpuSeconds;
    storedBytes += k * m.storedBytes;
  }
  return {
    conversations,
    seconds,
    counts,
    delivered,
    ingressCpuSeconds,
    audioSeconds: conversations * seconds,
    storedBytes,
  };
}

/**
 * One conversation of `seconds` audio seconds, from two measured lengths: what a conversation
 * costs is a fixed part (sockets, sessions, finalize, extraction) plus a part per audio second
 * (chunks, segments), each solved from the two runs' counts per conversation.
 */
function atLength(short: Measured, long: Measured, seconds: number): Measured {
  const t = (seconds - short.seconds) / (long.seconds - short.seconds);
  return weighted(
    [
      [short, (1 - t) / short.conversations],
      [long, t / long.conversations],
    ],
    1,
    seconds,
  );
}

function report(context: BenchContext, prices: Prices, label: string, m: Measured): number {
  const hours = m.audioSeconds / 3600;
  const per = (x: number): number => x / hours;
  const c = m.counts;
  const deliveredBytes = [...m.delivered.values()].reduce((s, d) => s + d.bytes, 0);
  const deliveries = [...m.delivered.values()].reduce((s, d) => s + d.deliveries, 0);
  const min = prices.pubsub.min_bytes_per_request;
  // Each publish request and each push is billed at least `min` bytes.
  const billedPublish = Math.max(c.pubsubPublishBytes, c.pubsubPublishRequests * min);
  const billedDelivery = [...m.delivered.values()].reduce((s, d) => s + Math.max(d.bytes, d.deliveries * min), 0);
  const tib = 2 ** 40;
  const firestore =
    (per(c.firestoreReads) / 1e5) * prices.firestore.per_100k_reads +
    (per(c.firestoreWrites) / 1e5) * prices.firestore.per_100k_writes;
  const storageOps =
    (per(c.storageClassA) / 1e3) * prices.storage.per_1k_class_a +
    (per(c.storageClassB) / 1e4) * prices.storage.per_10k_class_b;
  const pubsub = (per(billedPublish + billedDelivery) / tib) * prices.pubsub.per_tib_throughput;
  const atRest = (per(m.storedBytes) / 1e9) * prices.storage.per_gb_month_standard;
  const total = firestore + storageOps + pubsub;
  const cpuPerHour = per(m.ingressCpuSeconds);
  const instanceHour =
    3600 * (INGRESS_VCPU * prices.cloud_run.per_vcpu_second + INGRESS_GIB * prices.cloud_run.per_gib_second);
  context.report(`${label}, per audio hour:`);
  context.report(
    `  Firestore  ${per(c.firestoreReads).toFixed(0)} reads + ${per(c.firestoreWrites).toFixed(0)} writes = ${per(c.firestoreReads + c.firestoreWrites).toFixed(0)} ops   ${money(firestore)}`,
  );
  context.report(
    `  Storage    ${per(c.storageClassA).toFixed(0)} class A + ${per(c.storageClassB).toFixed(0)} class B (+ ${per(c.storageFree).toFixed(0)} free)   ${money(storageOps)}`,
  );
  context.report(
    `  Pub/Sub    ${(per(c.pubsubPublishBytes) / 1e6).toFixed(1)} MB published (${per(c.pubsubPublishedMessages).toFixed(0)} messages) + ` +
      `${(per(deliveredBytes) / 1e6).toFixed(1)} MB delivered (${per(deliveries).toFixed(0)} pushes)   ${money(pubsub)}`,
  );
  context.report(`  total      ${money(total)}  (+ ${money(atRest)} per month the audio is kept)`);
  context.report(
    `  ingress    ${cpuPerHour.toFixed(2)} CPU-s; at ${INGRESS_CONCURRENCY} sockets per ${INGRESS_VCPU} vCPU/${INGRESS_GIB} GiB instance ` +
      `(CPU always allocated): ${money(instanceHour / INGRESS_CONCURRENCY)}`,
  );
  const calls = Object.entries(c.firestoreCalls)
    .sort((a, b) => b[1] - a[1])
    .map(([method, n]) => `${method} ${per(n).toFixed(0)}`)
    .join(", ");
  context.report(`  Firestore RPCs per audio hour: ${calls}`);
  const byCollection = Object.entries(c.firestoreByCollection)
    .sort((a, b) => b[1] - a[1])
    .map(([key, n]) => `${key} ${per(n).toFixed(0)}`)
    .join(", ");
  context.report(`  Firestore ops per audio hour by collection: ${byCollection}`);
  for (const [worker, d] of m.delivered) {
    if (d.ms.length === 0) continue;
    context.report(`  ${worker}: ${d.deliveries} deliveries, handler time ${formatDistribution(distribution(d.ms))}`);
  }
  return total;
}

/** Firestore operations and Storage operations of `m` (one conversation), by collection. */
function reportParts(context: BenchContext, label: string, m: Measured): void {
  const c = m.counts;
  const byCollection = Object.entries(c.firestoreByCollection)
    .filter(([, n]) => Math.abs(n) >= 0.05)
    .sort((a, b) => b[1] - a[1])
    .map(([key, n]) => `${key} ${n.toFixed(1)}`)
    .join(", ");
  context.report(
    `  ${label}: Firestore ${c.firestoreReads.toFixed(1)} reads + ${c.firestoreWrites.toFixed(1)} writes = ` +
      `${(c.firestoreReads + c.firestoreWrites).toFixed(1)} ops; Storage ${c.storageClassA.toFixed(1)} class A + ` +
      `${c.storageClassB.toFixed(1)} class B`,
  );
  context.report(`    by collection: ${byCollection}`);
}

/** The two measured lengths, then the fixed and per-minute parts, and realistic lengths priced. */
function reportCodec(context: BenchContext, prices: Prices, codec: Codec, runs: readonly [Measured, Measured]): void {
  const [short, long] = runs;
  for (const m of runs) {
    report(context, prices, `${codec}: measured, ${m.conversations} conversations x ${m.seconds} s`, m);
  }
  context.report(
    `${codec}: derived from the two runs (counts per conversation at ${short.seconds} s and ${long.seconds} s):`,
  );
  reportParts(context, "fixed, per conversation", atLength(short, long, 0));
  const perMinute = weighted(
    [
      [atLength(short, long, 60), 1],
      [atLength(short, long, 0), -1],
    ],
    1,
    60,
  );
  // What a minute carries: its chunks, and the bench's events (a segment every 12 s, half of them assigned).
  reportParts(context, `per audio minute (${60 / CHUNK_SECONDS} chunks, 5 segments, 2.5 assignments)`, perMinute);
  for (const minutes of REALISTIC_MINUTES) {
    report(
      context,
      prices,
      `${codec}: one ${minutes}-minute conversation (derived)`,
      atLength(short, long, minutes * 60),
    );
  }
}

export async function run(context: BenchContext): Promise<void> {
  const prices = pricesSchema.parse(JSON.parse(fs.readFileSync(path.join(__dirname, "prices.json"), "utf8")));
  installCounters();
  const storageTarget = context.emulatorEnv.STORAGE_EMULATOR_HOST;
  if (!storageTarget) throw new Error("no Storage emulator");
  const storage = await startStorageCounter(context.host, storageTarget);
  context.report(`prices of ${prices.date}, ${prices.region} (bench/prices.json); ${CHUNK_SECONDS} s chunks`);
  try {
    const conversations = context.short ? 2 : 4;
    const lengths = context.short ? ([60, 180] as const) : ([120, 480] as const);
    for (const codec of ["pcm16", "opus"] as const) {
      const short = await runPhase(context, storage.url, { codec, conversations, seconds: lengths[0] });
      const long = await runPhase(context, storage.url, { codec, conversations, seconds: lengths[1] });
      reportCodec(context, prices, codec, [short, long]);
    }
  } finally {
    await storage.close();
  }
}
