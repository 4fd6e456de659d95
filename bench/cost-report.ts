/**
 * The cost bench's arithmetic and its report (bench/cost.bench.ts measures): prices from
 * bench/prices.json, and from three runs per codec (two lengths of audio alone, and the
 * longer one with text events) three parts of every count: per conversation, per audio
 * minute and per event. Audio alone is priced per audio hour, the events per 1,000, and
 * the bench's example mix (audio plus its events) per audio hour, against issue 32's targets.
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

/** Conversation lengths the per-audio-hour figures are stated for; the targets are judged at the last. */
const REALISTIC_MINUTES = [20, 60] as const;
/** Issue 32's targets, per audio hour: pcm16 audio alone in Firestore operations; each codec's example mix in dollars. */
const TARGETS = { pcm16AudioOps: 1500, pcm16MixUsd: 0.018, opusMixUsd: 0.01 } as const;
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
  /** Text events sent (segments and speaker assignments), all conversations together. */
  readonly events: number;
  readonly counts: Counts;
  /** Delivered (pushed) Pub/Sub bytes, deliveries and each delivery's handler time (ms), per worker. */
  readonly delivered: Map<string, Delivered>;
  readonly ingressCpuSeconds: number;
  readonly audioSeconds: number;
  /** Bytes uploaded to Storage (chunks and samples, with their request framing). */
  readonly storedBytes: number;
}

/** A codec's three runs: audio alone at two lengths, and the longer with the bench's events. */
export interface CodecRuns {
  readonly short: Measured;
  readonly long: Measured;
  readonly withEvents: Measured;
}

/** What the verdicts are judged on, per audio hour of one conversation of the last realistic length. */
export interface CodecFigures {
  readonly codec: Codec;
  readonly audioOps: number;
  readonly audioUsd: number;
  readonly mixOps: number;
  readonly mixUsd: number;
  readonly eventsPerHour: number;
}

const money = (usd: number): string => `$${usd.toFixed(5)}`;

/** The sum of `parts`, each measurement scaled by its weight (handler times are not derived: none). */
function weighted(parts: ReadonlyArray<readonly [Measured, number]>, conversations: number, seconds: number): Measured {
  const counts = emptyCounts();
  const delivered = new Map<string, Delivered>();
  let ingressCpuSeconds = 0;
  let storedBytes = 0;
  let events = 0;
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
    events += k * m.events;
  }
  return {
    conversations,
    seconds,
    events,
    counts,
    delivered,
    ingressCpuSeconds,
    audioSeconds: conversations * seconds,
    storedBytes,
  };
}

/**
 * One conversation of `seconds` audio seconds, audio alone, from the two audio-only runs: a
 * fixed part (sockets, sessions, finalize, extraction) plus a part per audio second (chunks),
 * each solved from the two runs' counts per conversation.
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

interface Priced {
  readonly firestore: number;
  readonly storageOps: number;
  readonly pubsub: number;
  readonly total: number;
  /** Storage of the uploaded bytes, per month kept. */
  readonly atRest: number;
}

/** The list price of everything counted in `m`, as it stands (not per hour). */
function priceOf(prices: Prices, m: Measured): Priced {
  const c = m.counts;
  const min = prices.pubsub.min_bytes_per_request;
  // Each publish request and each push is billed at least `min` bytes.
  const billedPublish = Math.max(c.pubsubPublishBytes, c.pubsubPublishRequests * min);
  const billedDelivery = [...m.delivered.values()].reduce((s, d) => s + Math.max(d.bytes, d.deliveries * min), 0);
  const firestore =
    (c.firestoreReads / 1e5) * prices.firestore.per_100k_reads +
    (c.firestoreWrites / 1e5) * prices.firestore.per_100k_writes;
  const storageOps =
    (c.storageClassA / 1e3) * prices.storage.per_1k_class_a + (c.storageClassB / 1e4) * prices.storage.per_10k_class_b;
  const pubsub = ((billedPublish + billedDelivery) / 2 ** 40) * prices.pubsub.per_tib_throughput;
  const atRest = (m.storedBytes / 1e9) * prices.storage.per_gb_month_standard;
  return { firestore, storageOps, pubsub, total: firestore + storageOps + pubsub, atRest };
}

const opsOf = (m: Measured): number => m.counts.firestoreReads + m.counts.firestoreWrites;

/** Every count of `m` as it stands: per audio hour, per 1,000 events, or per conversation. */
function reportCounts(context: BenchContext, prices: Prices, m: Measured, options: { ingressPrice: boolean }): Priced {
  const c = m.counts;
  const p = priceOf(prices, m);
  const deliveredBytes = [...m.delivered.values()].reduce((s, d) => s + d.bytes, 0);
  const deliveries = [...m.delivered.values()].reduce((s, d) => s + d.deliveries, 0);
  context.report(
    `  Firestore  ${c.firestoreReads.toFixed(0)} reads + ${c.firestoreWrites.toFixed(0)} writes = ${opsOf(m).toFixed(0)} ops   ${money(p.firestore)}`,
  );
  context.report(
    `  Storage    ${c.storageClassA.toFixed(0)} class A + ${c.storageClassB.toFixed(0)} class B (+ ${c.storageFree.toFixed(0)} free)   ${money(p.storageOps)}`,
  );
  context.report(
    `  Pub/Sub    ${(c.pubsubPublishBytes / 1e6).toFixed(1)} MB published (${c.pubsubPublishedMessages.toFixed(0)} messages) + ` +
      `${(deliveredBytes / 1e6).toFixed(1)} MB delivered (${deliveries.toFixed(0)} pushes)   ${money(p.pubsub)}`,
  );
  context.report(`  total      ${money(p.total)}  (+ ${money(p.atRest)} per month the audio is kept)`);
  const instanceHour =
    3600 * (INGRESS_VCPU * prices.cloud_run.per_vcpu_second + INGRESS_GIB * prices.cloud_run.per_gib_second);
  context.report(
    `  ingress    ${m.ingressCpuSeconds.toFixed(2)} CPU-s` +
      (options.ingressPrice
        ? `; at ${INGRESS_CONCURRENCY} sockets per ${INGRESS_VCPU} vCPU/${INGRESS_GIB} GiB instance ` +
          `(CPU always allocated): ${money(instanceHour / INGRESS_CONCURRENCY)}`
        : ""),
  );
  const byCollection = Object.entries(c.firestoreByCollection)
    .filter(([, n]) => Math.abs(n) >= 0.5)
    .sort((a, b) => b[1] - a[1])
    .map(([key, n]) => `${key} ${n.toFixed(0)}`)
    .join(", ");
  context.report(`  Firestore ops by collection: ${byCollection}`);
  return p;
}

/** `m` scaled so that it holds one audio hour. */
const perAudioHour = (m: Measured): Measured => weighted([[m, 3600 / m.audioSeconds]], m.conversations, m.seconds);

/** Firestore and Storage operations of `m` (one conversation, or one minute), with Firestore's by collection. */
function reportParts(context: BenchContext, label: string, m: Measured): void {
  const c = m.counts;
  const byCollection = Object.entries(c.firestoreByCollection)
    .filter(([, n]) => Math.abs(n) >= 0.05)
    .sort((a, b) => b[1] - a[1])
    .map(([key, n]) => `${key} ${n.toFixed(1)}`)
    .join(", ");
  context.report(
    `  ${label}: Firestore ${c.firestoreReads.toFixed(1)} reads + ${c.firestoreWrites.toFixed(1)} writes = ` +
      `${opsOf(m).toFixed(1)} ops; Storage ${c.storageClassA.toFixed(1)} class A + ${c.storageClassB.toFixed(1)} class B`,
  );
  context.report(`    by collection: ${byCollection}`);
}

/** The three runs of one codec: audio alone, the events, and the example mix, each priced. */
export function reportCodec(
  context: BenchContext,
  prices: Prices,
  codec: Codec,
  chunkSeconds: number,
  runs: CodecRuns,
): CodecFigures {
  const { short, long, withEvents } = runs;
  for (const m of [short, long, withEvents]) {
    const events = m.events > 0 ? `, ${m.events} events` : ", audio alone";
    const times = [...m.delivered]
      .filter(([, d]) => d.ms.length > 0)
      .map(([worker, d]) => `${worker} ${formatDistribution(distribution(d.ms))}`);
    context.report(
      `${codec}: measured ${m.conversations} x ${m.seconds} s${events}; handler times: ${times.join("; ")}`,
    );
  }

  context.report(`${codec}, audio alone (from the two audio-only runs):`);
  reportParts(context, "fixed, per conversation", atLength(short, long, 0));
  const perMinute = weighted(
    [
      [atLength(short, long, 60), 1],
      [atLength(short, long, 0), -1],
    ],
    1,
    60,
  );
  reportParts(context, `per audio minute (${60 / chunkSeconds} chunks)`, perMinute);

  // Per event: the run with events, less audio alone at its length, over the events it sent.
  const audioOfEventsRun = atLength(short, long, withEvents.seconds);
  const perEvent = weighted(
    [
      [withEvents, 1 / withEvents.events],
      [audioOfEventsRun, -withEvents.conversations / withEvents.events],
    ],
    0,
    0,
  );
  const eventsPerHour = (withEvents.events / withEvents.audioSeconds) * 3600;

  let figures: CodecFigures | undefined;
  for (const minutes of REALISTIC_MINUTES) {
    const audio = perAudioHour(atLength(short, long, minutes * 60));
    const mix = weighted(
      [
        [audio, 1],
        [perEvent, eventsPerHour],
      ],
      audio.conversations,
      audio.seconds,
    );
    const label = `one ${minutes}-minute conversation`;
    context.report(`${codec}, ${label}, audio alone, per audio hour:`);
    const audioPrice = reportCounts(context, prices, audio, { ingressPrice: true });
    const mixPrice = priceOf(prices, mix);
    context.report(
      `${codec}, ${label} with the example mix's ${eventsPerHour.toFixed(0)} events per audio hour: ` +
        `Firestore ${opsOf(mix).toFixed(0)} ops, total ${money(mixPrice.total)} per audio hour`,
    );
    figures = {
      codec,
      audioOps: opsOf(audio),
      audioUsd: audioPrice.total,
      mixOps: opsOf(mix),
      mixUsd: mixPrice.total,
      eventsPerHour,
    };
  }
  context.report(`${codec}, per 1,000 events (segments and assignments, from the run with events):`);
  reportCounts(context, prices, weighted([[perEvent, 1000]], 0, 0), { ingressPrice: false });
  if (figures === undefined) throw new Error("no conversation length to judge");
  return figures;
}

/** One line per target of issue 32, judged on one conversation of the last realistic length. */
export function reportVerdicts(context: BenchContext, figures: readonly CodecFigures[]): void {
  const minutes = REALISTIC_MINUTES.at(-1);
  const verdict = (met: boolean): string => (met ? "met" : "NOT met");
  context.report(`targets (issue 32), per audio hour of one ${minutes}-minute conversation:`);
  for (const f of figures) {
    if (f.codec === "pcm16") {
      context.report(
        `  pcm16 audio alone: ${f.audioOps.toFixed(0)} Firestore ops (target <= ${TARGETS.pcm16AudioOps}): ${verdict(f.audioOps <= TARGETS.pcm16AudioOps)}`,
      );
      context.report(
        `  pcm16 example mix (${f.eventsPerHour.toFixed(0)} events): ${money(f.mixUsd)} (target <= $${TARGETS.pcm16MixUsd}): ${verdict(f.mixUsd <= TARGETS.pcm16MixUsd)}`,
      );
    } else {
      context.report(
        `  opus example mix (${f.eventsPerHour.toFixed(0)} events): ${money(f.mixUsd)} (target < $${TARGETS.opusMixUsd}): ${verdict(f.mixUsd < TARGETS.opusMixUsd)}`,
      );
    }
  }
}
