/**
 * CPU time of the processes a bench run involves, read as process.cpuUsage() would report
 * it but from outside (utime + stime of /proc/PID/stat), so a run can say where the
 * machine's CPU went: the server under test, each emulator, the load generator.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";

const CLOCK_TICKS_PER_SECOND = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

/** CPU seconds (user + system) process `pid` has used so far. */
export function cpuSecondsOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields 14 and 15 of proc(5); after the command name in parentheses, the text starts at field 3.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  if (!Number.isFinite(ticks)) throw new Error(`no utime/stime in /proc/${pid}/stat`);
  return ticks / CLOCK_TICKS_PER_SECOND;
}

/**
 * The process running `program` (its first argument's base name) with an argument equal to
 * `argument` (e.g. `--port=8681`), if any. The program matters: gcloud's wrappers carry the
 * same arguments as the Java process that does the work.
 */
export function findProcessWithArgument(program: string, argument: string): number | undefined {
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (args[0]?.split("/").pop() === program && args.includes(argument)) return Number(entry);
    } catch {
      // exited while we looked
    }
  }
  return undefined;
}

/** The emulator processes of `PUBSUB_EMULATOR_HOST` / `FIRESTORE_EMULATOR_HOST` (gcloud starts them with --port=N). */
export function emulatorProcesses(env: Readonly<Record<string, string>>): Record<string, number> {
  const found: Record<string, number> = {};
  for (const [name, variable] of [
    ["Pub/Sub emulator", "PUBSUB_EMULATOR_HOST"],
    ["Firestore emulator", "FIRESTORE_EMULATOR_HOST"],
  ] as const) {
    const port = env[variable]?.split(":").pop();
    const pid = port === undefined ? undefined : findProcessWithArgument("java", `--port=${port}`);
    if (pid !== undefined) found[name] = pid;
  }
  return found;
}

/** CPU seconds per process over a window: `start()`, then `stop()` for each one's share. */
export function cpuMeter(processes: Readonly<Record<string, number>>): { stop(): Record<string, number> } {
  const ownBefore = process.cpuUsage();
  const before = Object.fromEntries(Object.entries(processes).map(([name, pid]) => [name, cpuSecondsOf(pid)]));
  return {
    stop: () => {
      const own = process.cpuUsage(ownBefore);
      const result: Record<string, number> = { "bench process": (own.user + own.system) / 1e6 };
      for (const [name, pid] of Object.entries(processes)) {
        try {
          result[name] = cpuSecondsOf(pid) - (before[name] ?? 0);
        } catch {
          result[name] = Number.NaN; // it exited during the window
        }
      }
      return result;
    },
  };
}
