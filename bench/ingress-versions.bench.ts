/**
 * Two versions of the ingress side by side in one run, under the same real-time load:
 * `BENCH_BASELINE_CHECKOUT=/path/to/other/checkout npm run bench -- ingress-versions`
 * compiles that checkout's ingress and this one's, then alternates them (A B B A ...), each
 * a fresh process with its own streams, and prints per round the CPU per 1,000 real-time
 * streams (per audio acknowledged, so a lagging round is not flattered), the ack latency
 * and the resident memory. On a shared machine a change shows only against its baseline
 * taken minutes apart, not against figures of another day. Without the variable it skips.
 *
 * The other checkout needs its own `node_modules` (a symlink to the shared install will do).
 */
import path from "node:path";
import { freePort } from "../local/ports";
import { distribution, formatDistribution } from "../local/stats";
import { benchEnvironment, compileServers, ingressProcessEnv, startServer } from "./ingress.bench";
import { measureRealtime, openStreams, SAMPLE_RATE, userPerStream } from "./realtime-streams";
import type { BenchContext } from "./run";

export async function run(context: BenchContext): Promise<void> {
  const baseline = process.env.BENCH_BASELINE_CHECKOUT;
  if (baseline === undefined) {
    context.report("skipped: set BENCH_BASELINE_CHECKOUT to another checkout to compare its ingress with this one");
    return;
  }
  const streams = context.short ? 200 : 500;
  const seconds = 11;
  const rounds = context.short ? 2 : 4;
  const versions = { baseline: compileServers(path.resolve(baseline)), this: compileServers() };
  const bench = await benchEnvironment();
  let seed = 11;
  const random = () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
  for (let round = 0; round < rounds; round += 1) {
    const order = round % 2 === 0 ? (["baseline", "this"] as const) : (["this", "baseline"] as const);
    for (const version of order) {
      const port = await freePort();
      const server = await startServer(
        path.join(versions[version], "functions/ingress/main.js"),
        [],
        ingressProcessEnv(context, bench, port, "info"),
        port,
        "/v1/listen",
      );
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
