/**
 * Loaded into a process of the stack (an ingress instance) by `npm run bench -- cost`
 * through NODE_OPTIONS: counts that process's client operations
 * (test/support/cost-counters.ts) and writes them, with the process's CPU seconds, to TETHER_BENCH_COUNTS_DIR/<pid>.json
 * when it exits.
 */
import fs from "node:fs";
import path from "node:path";
import { counts, installCounters } from "../test/support/cost-counters";

const dir = process.env.TETHER_BENCH_COUNTS_DIR;
if (dir !== undefined && dir !== "") {
  installCounters();
  process.on("exit", () => {
    const cpu = process.cpuUsage();
    fs.writeFileSync(
      path.join(dir, `${process.pid}.json`),
      JSON.stringify({ counts, cpuSeconds: (cpu.user + cpu.system) / 1e6 }),
    );
  });
}
