/**
 * `npm run bench`: starts the emulators once, then runs every `bench/*.bench.ts` module's
 * exported `run(context)` in turn and prints what each measured. Each bench measures its
 * baseline in the same run, so ratios compare like with like on this machine.
 *
 *   npm run bench                     every bench
 *   npm run bench -- ingress --short  one bench, shorter runs (for trying a change)
 *   BENCH_BASELINE_CHECKOUT=DIR npm run bench -- ingress-versions
 *                                     another checkout's ingress beside this one's
 */
import fs from "node:fs";
import path from "node:path";
import { emulatorEnvironment, startEmulators } from "../local/emulators";
import { freePort } from "../local/ports";

export interface BenchContext {
  readonly host: string;
  /** Environment variables that point the client libraries (and child processes) at the emulators. */
  readonly emulatorEnv: Readonly<Record<string, string>>;
  /** Prints one result line. */
  readonly report: (line: string) => void;
  /** `--short`: shorter runs and fewer streams, for trying a change; figures are noisier. */
  readonly short: boolean;
}

interface BenchModule {
  run(context: BenchContext): Promise<void>;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const short = args.includes("--short");
  const only = args.filter((a) => a !== "--short");
  const files = fs
    .readdirSync(__dirname)
    .filter((f) => f.endsWith(".bench.ts"))
    .filter((f) => only.length === 0 || only.some((name) => f.startsWith(name)))
    .sort();
  if (files.length === 0) throw new Error(`no bench/*.bench.ts module matches ${only.join(", ")}`);
  const host = "127.0.0.1";
  process.stderr.write("bench: starting the emulators...\n");
  const emulators = await startEmulators(host, {
    pubsub: await freePort(host),
    firestore: await freePort(host),
    storage: await freePort(host),
  });
  const emulatorEnv = emulatorEnvironment(emulators.endpoints);
  Object.assign(process.env, emulatorEnv);
  let failed = false;
  try {
    for (const file of files) {
      const name = file.replace(/\.bench\.ts$/, "");
      process.stdout.write(`\n== ${name}\n`);
      const module = (await import(path.join(__dirname, file))) as Partial<BenchModule>;
      if (typeof module.run !== "function") throw new Error(`${file} does not export run(context)`);
      const started = Date.now();
      try {
        await module.run({ host, emulatorEnv, short, report: (line) => process.stdout.write(`  ${line}\n`) });
        process.stdout.write(`  (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
      } catch (error) {
        failed = true;
        process.stdout.write(`  FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      }
    }
  } finally {
    await emulators.stop();
  }
  process.exit(failed ? 1 : 0);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
