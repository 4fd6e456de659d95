/**
 * Issue 27's bar for ingress crashes, as a command: while 20 conversations stream in real
 * time through the SDK, one ingress instance is SIGKILLed at random every few seconds (the
 * stack starts a replacement; the killed instance's clients resume on another). Every
 * conversation must play back byte-exact (`audio.wav` equals what was written) and read
 * `finalized` in the API within 30 s of its `finalize`. Each run is a fresh local stack as
 * `npm start` runs it (ingress instance processes, each worker in its own process, fed by
 * push) on emulators started once for all runs.
 *
 *   node --import tsx scripts/ingress-kills.ts --runs 10
 *
 * Prints one line per run and exits non-zero if any conversation missed the bar.
 */
import crypto from "node:crypto";
import { z } from "zod";
import { connect } from "../client/index";
import { startEmulators } from "../local/emulators";
import { freePort } from "../local/ports";
import { integerBetween, mulberry32 } from "../local/seeded-random";
import { startLocalStack } from "../local/stack";
import { signAccessToken } from "../shared/auth";
import { parseEnvironmentName } from "../shared/environment";
import { createLogger } from "../shared/logger";
import { decodePcm16MonoWav } from "../shared/wav";
import { killIngressInstances } from "./chaos-faults";
import { BYTES_PER_SECOND, SAMPLE_RATE } from "./chaos-plan";
import { parseCliOptions, UsageError } from "./cli-options";

const USAGE = `Usage: node --import tsx scripts/ingress-kills.ts [options]

  --runs N            runs, each on a fresh stack (default 10)
  --conversations N   conversations streaming at once (default 20)
  --seconds S         audio per conversation, streamed in real time, at most (default 20)
  --instances N       ingress instances (default 2)
  --kill-every-ms A-B one SIGKILL every A to B ms (default 2000-4000)
  --seed N            the runs' randomness (default: random, printed)`;

const optionsSchema = z.object({
  runs: z.coerce.number().int().positive().default(10),
  conversations: z.coerce.number().int().positive().default(20),
  seconds: z.coerce.number().int().min(4).default(20),
  instances: z.coerce.number().int().min(2).default(2),
  "kill-every-ms": z
    .string()
    .regex(/^\d+-\d+$/)
    .default("2000-4000"),
  seed: z.coerce.number().int().nonnegative().optional(),
});

/** The bar: `finalized` in the API within this long of the client's `finalize`. */
const FINALIZED_WITHIN_MS = 30_000;
const FRAME_BYTES = BYTES_PER_SECOND / 10; // 100 ms

interface Outcome {
  readonly problems: string[];
  /** From `finalize()` to the API's `finalized`, in ms. */
  readonly finalizedAfterMs: number | undefined;
  readonly reconnects: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function streamOne(
  target: { ingressUrl: string; apiUrl: string; token: string },
  audio: Buffer,
): Promise<Outcome> {
  const problems: string[] = [];
  const session = await connect({
    url: target.ingressUrl,
    token: target.token,
    codec: "pcm16",
    sampleRate: SAMPLE_RATE,
    backoff: { initialDelayMs: 50, maxDelayMs: 500 },
  });
  const started = performance.now();
  for (let offset = 0; offset < audio.length; offset += FRAME_BYTES) {
    await session.write(audio.subarray(offset, offset + FRAME_BYTES));
    const due = started + ((offset + FRAME_BYTES) / BYTES_PER_SECOND) * 1000;
    await sleep(Math.max(0, due - performance.now()));
  }
  const finalizeAt = performance.now();
  const finalized = await session.finalize();
  const id = finalized.conversationId;
  const headers = { authorization: `Bearer ${target.token}` };
  let finalizedAfterMs: number | undefined;
  while (performance.now() - finalizeAt < FINALIZED_WITHIN_MS) {
    const response = await fetch(`${target.apiUrl}/v1/conversations/${id}`, { headers });
    const view = (await response.json()) as { status?: string };
    if (view.status === "finalized") {
      finalizedAfterMs = performance.now() - finalizeAt;
      break;
    }
    await sleep(200);
  }
  if (finalizedAfterMs === undefined) problems.push(`${id} not finalized within ${FINALIZED_WITHIN_MS / 1000} s`);
  else {
    const wav = await fetch(`${target.apiUrl}/v1/conversations/${id}/audio.wav`, { headers });
    const pcm = wav.ok ? Buffer.from(decodePcm16MonoWav(Buffer.from(await wav.arrayBuffer())).pcm) : undefined;
    if (pcm === undefined) problems.push(`${id}: audio.wav answered ${wav.status}`);
    else if (!pcm.equals(audio))
      problems.push(`${id}: played back ${pcm.length} bytes, not the ${audio.length} written`);
  }
  return { problems, finalizedAfterMs, reconnects: session.stats.reconnects };
}

async function main(): Promise<void> {
  const options = parseCliOptions(process.argv.slice(2), optionsSchema, USAGE);
  const seed = options.seed ?? crypto.randomInt(2 ** 31);
  const [minMs = 2000, maxMs = 4000] = options["kill-every-ms"].split("-").map(Number);
  process.stdout.write(`seed ${seed}\n`);
  const host = "127.0.0.1";
  const emulators = await startEmulators(host, {
    pubsub: await freePort(host),
    firestore: await freePort(host),
    storage: await freePort(host),
  });
  let failed = 0;
  try {
    for (let run = 1; run <= options.runs; run += 1) {
      const random = mulberry32(seed + run);
      const environment = parseEnvironmentName(`kills-${crypto.randomBytes(4).toString("hex")}`);
      const stack = await startLocalStack({
        environments: [environment],
        host,
        basePort: 0,
        emulators: { existing: emulators.endpoints },
        ingressInstances: options.instances,
        workerProcesses: true,
        logger: createLogger({ level: "silent" }),
      });
      try {
        const state = stack.state.envs[environment];
        if (state === undefined) throw new Error("the stack has no environment");
        const target = {
          ingressUrl: state.ingress_url,
          apiUrl: state.api_url,
          token: await signAccessToken(state.token_secret, `kills-user-${run}`),
        };
        const killer = killIngressInstances(stack, [environment], random, { minMs, maxMs });
        const audios = Array.from({ length: options.conversations }, () =>
          crypto.randomBytes(integerBetween(random, options.seconds / 2, options.seconds) * BYTES_PER_SECOND),
        );
        const outcomes = await Promise.all(
          audios.map((audio) =>
            streamOne(target, audio).catch((error: unknown) => ({
              problems: [`the SDK failed: ${String(error)}`],
              finalizedAfterMs: undefined,
              reconnects: 0,
            })),
          ),
        );
        killer.stop();
        const problems = outcomes.flatMap((o) => o.problems);
        const times = outcomes.flatMap((o) => (o.finalizedAfterMs === undefined ? [] : [o.finalizedAfterMs]));
        const exact = outcomes.length - outcomes.filter((o) => o.problems.length > 0).length;
        process.stdout.write(
          `run ${run}: ${exact}/${outcomes.length} byte-exact and finalized in time, ${killer.kills()} kills, ` +
            `${outcomes.reduce((sum, o) => sum + o.reconnects, 0)} reconnects, finalize -> finalized ` +
            `max ${Math.round(Math.max(0, ...times))} ms, median ${Math.round(times.sort((a, b) => a - b)[Math.floor(times.length / 2)] ?? 0)} ms\n`,
        );
        for (const problem of problems) process.stdout.write(`  ${problem}\n`);
        if (problems.length > 0) failed += 1;
      } finally {
        await stack.stop();
      }
    }
  } finally {
    await emulators.stop();
  }
  process.stdout.write(`${options.runs - failed}/${options.runs} runs met the bar\n`);
  process.exitCode = failed === 0 ? 0 : 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof UsageError ? error.message : String(error)}\n`);
  process.exit(error instanceof UsageError ? 2 : 1);
});
