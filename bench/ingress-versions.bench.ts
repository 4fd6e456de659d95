/**
 * Two versions of the ingress side by side in one run, under the same real-time load:
 * `BENCH_BASELINE_CHECKOUT=/path/to/other/checkout npm run bench -- ingress-versions`
 * compiles that checkout's ingress and this one's, then alternates them (A B B A ...), each
 * a fresh process with its own streams, and prints per round the CPU per 1,000 real-time
 * streams (per audio acknowledged, so a lagging round is not flattered), the ack latency
 * and the resident memory. Before that, the same two flat out (as `ingress`'s throughput run,
 * A B B A): frames/s each, as a share of the direct-publish ceiling measured around them,
 * and CPU ms per MB of audio. On a shared machine a change shows only against its baseline
 * taken minutes apart, not against figures of another day. Without the variable it skips.
 *
 * The other checkout needs its own `node_modules` (a symlink to the shared install will do).
 */
import path from "node:path";
import { freePort } from "../local/ports";
import { distribution, formatDistribution } from "../local/stats";
import {
  type BenchEnvironment,
  benchEnvironment,
  chooseSizes,
  compileServers,
  ingressProcessEnv,
  measureDirectPublish,
  measureThroughput,
  startServer,
} from "./ingress.bench";
import { emulatorProcesses } from "./process-cpu";
import { FRAME_BYTES, measureRealtime, openStreams, SAMPLE_RATE, userPerStream } from "./realtime-streams";
import type { BenchContext } from "./run";

export async function run(context: BenchContext): Promise<void> {
  const baseline = process.env.BENCH_BASELINE_CHECKOUT;
  if (baseline === undefined) {
    context.report("skipped: set BENCH_BASELINE_CHECKOUT to another checkout to compare its ingress with this one");
    return;
  }
  const versions = { baseline: compileServers(path.resolve(baseline)), this: compileServers() };
  const bench = await benchEnvironment();
  const start = async (version: keyof typeof versions) => {
    const port = await freePort();
    return await startServer(
      path.join(versions[version], "functions/ingress/main.js"),
      [],
      ingressProcessEnv(context, bench, port, "info"),
      port,
      "/v1/listen",
    );
  };

  // BENCH_INGRESS_PHASES=throughput or =streams runs one half, as in `ingress`.
  const phases = (process.env.BENCH_INGRESS_PHASES ?? "throughput,streams").split(",");
  if (phases.includes("throughput")) await flatOut(context, bench, start);
  if (phases.includes("streams")) await realtimeRounds(context, bench, start);
}

type Start = (version: "baseline" | "this") => ReturnType<typeof startServer>;

/** Both versions flat out, A B B A, between two measurements of the direct-publish ceiling. */
async function flatOut(context: BenchContext, bench: BenchEnvironment, start: Start): Promise<void> {
  const emulators = emulatorProcesses(context.emulatorEnv);
  const { throughputSeconds } = chooseSizes(context.short);
  const ceiling = async () => (await measureDirectPublish(bench.resources, throughputSeconds, emulators)).fps;
  const ceilings = [await ceiling()];
  const runs: Record<"baseline" | "this", { fps: number; msPerMb: number }[]> = { baseline: [], this: [] };
  for (const version of ["baseline", "this", "this", "baseline"] as const) {
    const server = await start(version);
    try {
      const run = await measureThroughput(
        server,
        server.url,
        userPerStream(bench.secret, `bench-flat-${version}`),
        emulators,
      );
      runs[version].push({ fps: run.fps, msPerMb: (1000 * run.cpuCores) / ((run.fps * FRAME_BYTES) / 1e6) });
    } finally {
      await server.stop();
    }
  }
  ceilings.push(await ceiling());
  const best = Math.max(...ceilings);
  for (const version of ["baseline", "this"] as const) {
    context.report(
      `flat out, ${version.padEnd(8)}: ${runs[version].map((r) => `${Math.round(r.fps).toLocaleString("en")} frames/s = ${((100 * r.fps) / best).toFixed(0)}%, ${r.msPerMb.toFixed(1)} ms CPU per MB`).join("; ")} ` +
        `(of the direct-publish ceiling, best of ${ceilings.map((c) => Math.round(c).toLocaleString("en")).join(" and ")} frames/s)`,
    );
  }
}

/** Both versions under the same real-time load, alternating, each round a fresh process. */
async function realtimeRounds(context: BenchContext, bench: BenchEnvironment, start: Start): Promise<void> {
  const streams = context.short ? 200 : 500;
  const seconds = 11;
  const rounds = context.short ? 2 : 4;
  let seed = 11;
  const random = () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
  for (let round = 0; round < rounds; round += 1) {
    const order = round % 2 === 0 ? (["baseline", "this"] as const) : (["this", "baseline"] as const);
    for (const version of order) {
      const server = await start(version);
      try {
        const open = await openStreams(
          server.url,
          userPerStream(bench.secret, `bench-${version}-${round}`),
          streams,
          50,
        );
        const acked = () => open.reduce((sum, s) => sum + s.acked, 0);
        let before = { cpu: 0, at: 0, acked: 0 };
        const result = await measureRealtime(open, random, seconds, {
          warmupSeconds: 6,
          onMeasured: () => {
            before = { cpu: server.cpuSeconds(), at: performance.now(), acked: acked() };
          },
        });
        const cpu = server.cpuSeconds() - before.cpu;
        const wall = (performance.now() - before.at) / 1000;
        const audioSeconds = (acked() - before.acked) / (SAMPLE_RATE * 2);
        context.report(
          `round ${round + 1}, ${version.padEnd(8)}: ${((cpu / audioSeconds) * 1000).toFixed(2)} cores per 1,000 real-time streams per audio acknowledged ` +
            `(${(cpu / wall).toFixed(2)} cores for ${streams} streams; acked ${(audioSeconds / seconds / streams).toFixed(2)}x the audio sent in ${seconds} s); ` +
            `ack latency ${formatDistribution(distribution(result.latencies))}; RSS ${(server.rssBytes() / 1024 / 1024).toFixed(0)} MB`,
        );
        for (const s of open) s.ws.terminate();
      } finally {
        await server.stop();
      }
    }
  }
}
