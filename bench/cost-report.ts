/**
 * The cost bench's arithmetic and its report (bench/cost.bench.ts measures): prices from
 * bench/prices.json, per-audio-hour figures of a measured run, and the fixed and
 * per-minute parts solved from two runs of different lengths.
 */
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { INGRESS_CONCURRENCY } from "../infra/ingress";
import { distribution, formatDistribution } from "../local/stats";
import type { Codec } from "../shared/audio-format";
import { addScaledCounts, type Counts, emptyCounts } from "../test/support/cost-counters";
import type { BenchContext } from "./run";

const pricesSchema = z.object({
  date: z.string(),
  region: z.string(),
  firestore: z.object({ per_100k_reads: z.number(), per_100k_writes: z.number() }),
  storage: z.object({ per_1k_class_a: z.number(), per_10k_class_b: z.number(), per_gb_month_standard: z.number() }),
  pubsub: z.object({ per_tib_throughput: z.number(), min_bytes_per_request: z.number() }),
  cloud_run: z.object({ per_vcpu_second: z.number(), per_gib_second: z.number() }),
});
export type Prices = z.infer<typeof pricesSchema>;

export function loadPrices(): Prices {
  return pricesSchema.parse(JSON.parse(fs.readFileSync(path.join(__dirname, "prices.json"), "utf8")));
}

/** Conversation lengths the per-audio-hour figures are stated for. */
const REALISTIC_MINUTES = [20, 60] as const;
/** The deployed ingress's instance (infra/ingress.ts): 1 vCPU, 1 GiB. */
const INGRESS_VCPU = 1;
const INGRESS_GIB = 1;

export interface Delivered {
  bytes: number;
  deliveries: number;
  readonly ms: number[];
}

export interface Measured {
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
export function reportCodec(
  context: BenchContext,
  prices: Prices,
  codec: Codec,
  chunkSeconds: number,
  runs: readonly [Measured, Measured],
): void {
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
  reportParts(context, `per audio minute (${60 / chunkSeconds} chunks, 5 segments, 2.5 assignments)`, perMinute);
  for (const minutes of REALISTIC_MINUTES) {
    report(
      context,
      prices,
      `${codec}: one ${minutes}-minute conversation (derived)`,
      atLength(short, long, minutes * 60),
    );
  }
}
