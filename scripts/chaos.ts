/**
 * `npm run chaos`: many concurrent conversations streamed through the client SDK into two
 * environments of a local stack for a chosen time, under real faults, then every invariant
 * checked against storage and the API in one table; exits non-zero on any violation.
 *
 * Faults: sockets dropped at random points (mid-chunk, the SDK's `simulateDisconnect`
 * terminates the TCP connection) and cut by a TCP fault proxy between the clients and the
 * ingress; ingress instance processes SIGKILLed and replaced (each environment runs
 * `--ingress-instances` of them, as Cloud Run does); workers slowed and failing with
 * transient errors, every Pub/Sub message delivered 1 to 3 times, concurrently and out of
 * order (scripts/chaos-faults.ts through the stack's `wrapWorker`); and the connections
 * between the workers and the emulators cut by TCP fault proxies in front of the emulators
 * (the stack's `workerEmulators`), and between the ingress instances and Pub/Sub and
 * Firestore, where the chunks are published and their durable positions written (the stack's
 * `ingressEmulators`). Every random choice comes from
 * `--seed`, printed first, so a failing run can be replayed.
 *
 *   npm run chaos -- --minutes 1 --seed 42 --conversations 8 --envs chaos-a,chaos-b
 */
import fs from "node:fs";
import { type IntervalHistogram, monitorEventLoopDelay } from "node:perf_hooks";
import { z } from "zod";
import type { TetherSession } from "../client/index";
import { type EmulatorEndpoints, startEmulators } from "../local/emulators";
import { freePort } from "../local/ports";
import { streamOf } from "../local/seeded-random";
import { type RunningStack, startLocalStack } from "../local/stack";
import { pushStats } from "../local/worker-server";
import { signAccessToken } from "../shared/auth";
import { type EnvironmentName, parseEnvironmentName } from "../shared/environment";
import { createLogger } from "../shared/logger";
import { conversationPrefix } from "../shared/storage-paths";
import { decodePcm16MonoWav } from "../shared/wav";
import { type AudioMaker, startAudioMaker } from "./chaos-audio";
import {
  allViolations,
  type ConversationHistory,
  type ConversationObservation,
  checkConversation,
  formatSummary,
} from "./chaos-check";
import {
  extraDeliveriesSettled,
  type FaultCounters,
  faultyWorkers,
  killIngressInstances,
  newFaultCounters,
} from "./chaos-faults";
import {
  BYTES_PER_SECOND,
  type ConversationPlan,
  expectedSegments,
  planConversation,
  SAMPLE_RATE,
  type SentText,
} from "./chaos-plan";
import { type FaultProxy, startFaultProxy, targetOf, throughProxy } from "./chaos-proxy";
import { parseCliOptions, UsageError } from "./cli-options";
import { countByReason, listDeadLetters } from "./dead-letter-store";
import { connectPcm16, type SmokeTarget } from "./smoke-checks";

const USAGE = `Usage: npm run chaos -- [options]

  --minutes M              how long conversations keep starting (default 1)
  --seed N                 the seed of every random choice (default: random, printed first)
  --conversations N        conversations streaming at once (default 8)
  --envs A,B               the two environments (default chaos-a,chaos-b)
  --state-file PATH        use the emulators of a running \`npm start\` (default: start its own)
  --max-delay-ms MS        worker delay per delivery, at most (default 300)
  --failure-rate P         probability a worker delivery fails transiently (default 0.1)
  --cut-rate P             probability the fault proxy cuts a client connection mid-stream (default 0.3)
  --ingress-instances N    ingress processes per environment (default 2)
  --kill-every S           SIGKILL or SIGTERM (drain) an ingress instance every 0.5 S to 1.5 S seconds (default 10; 0: never)
  --max-socket-seconds S   a socket's maximum life: goaway, then the client hands over (default 20)
  --cut-emulators LIST     emulators whose connections with the workers are cut (default pubsub,firestore,storage)
  --emulator-cut-every S   cut one of those connections every 0.5 S to 1.5 S seconds, per emulator (default 3; 0: never)
  --ingress-cut-every S    cut one connection between the ingress instances and Pub/Sub, and one with Firestore, every 0.5 S to 1.5 S seconds each (default 3; 0: never)
  --wait S                 how long to wait for finalized and extraction at the end (default 180)
  --help`;

const EMULATORS = ["pubsub", "firestore", "storage"] as const;
type Emulator = (typeof EMULATORS)[number];

const optionsSchema = z.object({
  minutes: z.coerce.number().positive().default(1),
  seed: z.coerce.number().int().nonnegative().optional(),
  conversations: z.coerce.number().int().min(1).max(1000).default(8),
  envs: z.string().default("chaos-a,chaos-b"),
  "state-file": z.string().optional(),
  "max-delay-ms": z.coerce.number().int().nonnegative().default(300),
  "failure-rate": z.coerce.number().min(0).max(0.9).default(0.1),
  wait: z.coerce.number().positive().default(180),
  "cut-rate": z.coerce.number().min(0).max(0.9).default(0.3),
  "ingress-instances": z.coerce.number().int().min(1).max(8).default(2),
  "kill-every": z.coerce.number().nonnegative().default(10),
  "max-socket-seconds": z.coerce.number().positive().default(20),
  "cut-emulators": z
    .string()
    .default(EMULATORS.join(","))
    .transform((list) =>
      list
        .split(",")
        .map((e) => e.trim())
        .filter((e) => e !== ""),
    )
    .pipe(z.array(z.enum(EMULATORS))),
  "emulator-cut-every": z.coerce.number().nonnegative().default(3),
  "ingress-cut-every": z.coerce.number().nonnegative().default(3),
});
type Options = z.infer<typeof optionsSchema>;

const stateSchema = z.object({
  emulators: z.object({ pubsub: z.string(), firestore: z.string(), storage: z.string() }),
});

const USER = "chaos";
const HOST = "127.0.0.1";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** The end check polls each conversation after 1 s, then less often (`observe`). */
const POLL_FIRST_MS = 1000;
const POLL_MAX_MS = 8000;

/** A random interval around `seconds`: 0.5 to 1.5 times it, in ms. */
const around = (seconds: number) => ({ minMs: Math.round(seconds * 500), maxMs: Math.round(seconds * 1500) });

/** Streams one planned conversation; records its history and ack latencies. */
async function runConversation(
  plan: ConversationPlan,
  target: SmokeTarget,
  seed: number,
  latencies: number[],
  audioMaker: AudioMaker,
): Promise<ConversationHistory> {
  const history: ConversationHistory = {
    index: plan.index,
    environment: plan.environment,
    conversationId: undefined,
    sent: [],
    bytesSent: 0,
    acked: 0,
    finalizedAt: undefined,
    expected: new Map(),
    disconnects: 0,
    handovers: 0,
    error: undefined,
  };
  const total = plan.frames.reduce((a, b) => a + b, 0);
  const audio = (await audioMaker.speechLikePcm(total / BYTES_PER_SECOND, SAMPLE_RATE, plan.voiceSeed)).subarray(
    0,
    total,
  );
  const writes: Array<{ end: number; at: number }> = [];
  const textSent: SentText[] = [];
  let session: TetherSession | undefined;
  try {
    session = await connectPcm16(target, streamOf(seed, 500_000 + plan.index));
    const s = session;
    history.conversationId = s.conversationId;
    s.on("ack", ({ position }) => {
      const now = performance.now();
      history.acked = Math.max(history.acked, position);
      // Latency of the write that holds the last acknowledged byte.
      const write = writes.find((w) => w.end >= position);
      if (write) latencies.push(now - write.at);
    });
    let offset = 0;
    let action = 0;
    for (const [frame, size] of plan.frames.entries()) {
      for (
        let next = plan.actions[action];
        next !== undefined && next.beforeFrame <= frame;
        next = plan.actions[++action]
      ) {
        if (next.kind === "segments") {
          s.sendSegments(next.segments);
          textSent.push({ kind: "segments", segments: next.segments });
        } else if (next.kind === "assign") {
          s.assignSpeaker(next.personId, next.segmentIds);
          textSent.push({ kind: "assign", personId: next.personId, segmentIds: next.segmentIds });
        } else {
          history.disconnects += 1;
          s.simulateDisconnect();
        }
      }
      const bytes = audio.subarray(offset, offset + size);
      await s.write(bytes);
      history.sent.push(Buffer.from(bytes));
      offset += size;
      history.bytesSent = offset;
      writes.push({ end: offset, at: performance.now() });
      await sleep(((size / BYTES_PER_SECOND) * 1000) / plan.pace);
    }
    history.expected = expectedSegments(textSent);
    const finalized = await s.finalize();
    history.finalizedAt = finalized.position;
  } catch (error) {
    history.expected = expectedSegments(textSent);
    history.error = error instanceof Error ? error.message : String(error);
  } finally {
    history.handovers = session?.stats.handovers ?? 0;
    session?.close();
  }
  return history;
}

async function apiJson(target: SmokeTarget, path: string): Promise<unknown> {
  const response = await fetch(`${target.apiUrl.replace(/\/$/, "")}${path}`, {
    headers: { authorization: `Bearer ${await target.token()}` },
  });
  if (!response.ok) throw new Error(`GET ${path} answered ${response.status}`);
  return response.json();
}

const statusSchema = z.object({
  status: z.string(),
  position: z.number(),
  extraction: z.object({
    status: z.string(),
    people: z.array(z.object({ person_id: z.string(), status: z.string(), reason: z.string().optional() })),
  }),
});
const segmentsSchema = z.object({
  segments: z.array(z.object({ id: z.string(), text: z.string(), person_id: z.string().nullable() })),
});

/** Waits (bounded) for finalized and extraction past pending, then reads everything back. */
async function observe(
  history: ConversationHistory,
  target: SmokeTarget,
  stack: RunningStack,
  environments: readonly EnvironmentName[],
  deadline: number,
): Promise<ConversationObservation> {
  const problems: string[] = [];
  const id = history.conversationId;
  if (id === undefined)
    return {
      status: undefined,
      position: undefined,
      extraction: undefined,
      pcm: undefined,
      segments: [],
      objectsElsewhere: [],
      problems: ["never connected"],
    };
  let status: z.infer<typeof statusSchema> | undefined;
  // Every unfinished conversation polls at once, through the API and the Firestore emulator the
  // workers need to drain the backlog: a poll every second each starved them. So each waits
  // longer between polls, up to a few seconds, never past the deadline.
  let pause = POLL_FIRST_MS;
  for (;;) {
    try {
      status = statusSchema.parse(await apiJson(target, `/v1/conversations/${id}`));
    } catch (error) {
      problems.push(`status: ${(error as Error).message}`);
      break;
    }
    if (status.status === "finalized" && status.extraction.status !== "pending") break;
    if (Date.now() > deadline) {
      const people = status.extraction.people.map(
        (p) => `${p.person_id} ${p.status}${p.reason ? ` (${p.reason})` : ""}`,
      );
      problems.push(
        `timed out waiting: status ${status.status}, extraction ${status.extraction.status} [${people.join(", ")}]`,
      );
      break;
    }
    await sleep(Math.max(0, Math.min(pause, deadline - Date.now())) + 10);
    pause = Math.min(pause * 2, POLL_MAX_MS);
  }
  let pcm: Buffer | undefined;
  try {
    const response = await fetch(`${target.apiUrl.replace(/\/$/, "")}/v1/conversations/${id}/audio.wav`, {
      headers: { authorization: `Bearer ${await target.token()}` },
    });
    if (!response.ok) throw new Error(`audio.wav answered ${response.status}`);
    pcm = Buffer.from(decodePcm16MonoWav(Buffer.from(await response.arrayBuffer())).pcm);
  } catch (error) {
    problems.push((error as Error).message);
  }
  let segments: z.infer<typeof segmentsSchema>["segments"] = [];
  try {
    segments = segmentsSchema.parse(await apiJson(target, `/v1/conversations/${id}/segments`)).segments;
  } catch (error) {
    problems.push(`segments: ${(error as Error).message}`);
  }
  const objectsElsewhere: string[] = [];
  for (const other of environments) {
    if (other === target.environment) continue;
    const runtime = stack.runtimes.get(other);
    if (!runtime) continue;
    const [files] = await runtime.clients.storage
      .bucket(runtime.resources.bucket)
      .getFiles({ prefix: conversationPrefix(id) });
    objectsElsewhere.push(...files.map((f) => `${runtime.resources.bucket}/${f.name}`));
  }
  return {
    status: status?.status,
    position: status?.position,
    extraction: status?.extraction.status,
    pcm,
    segments,
    objectsElsewhere,
    problems,
  };
}

/** The emulators of a running `npm start` (`--state-file`), or new ones, stopped with the run. */
async function emulatorsFor(options: Options): Promise<{ endpoints: EmulatorEndpoints; stop: () => Promise<void> }> {
  if (options["state-file"] !== undefined) {
    const state = stateSchema.parse(JSON.parse(fs.readFileSync(options["state-file"], "utf8")));
    return { endpoints: state.emulators, stop: async () => undefined };
  }
  return await startEmulators(HOST, {
    pubsub: await freePort(),
    firestore: await freePort(),
    storage: await freePort(),
  });
}

/** A fault proxy in front of each emulator in `emulators`, for the workers' clients; cuts on a clock. */
async function emulatorProxies(
  endpoints: EmulatorEndpoints,
  emulators: readonly Emulator[],
  every: number,
  seed: number,
  /** The seed's stream of the first proxy's choices (the others take the next ones). */
  firstStream: number,
): Promise<Map<Emulator, FaultProxy>> {
  const proxies = new Map<Emulator, FaultProxy>();
  if (every <= 0) return proxies;
  for (const [i, emulator] of emulators.entries()) {
    proxies.set(
      emulator,
      await startFaultProxy({
        target: targetOf(endpoints[emulator]),
        random: streamOf(seed, firstStream + i),
        onClock: around(every),
      }),
    );
  }
  return proxies;
}

/** Where clients reach each proxied emulator (the endpoint's form, through the proxy). */
function proxiedEndpoints(proxies: ReadonlyMap<Emulator, FaultProxy>): Partial<EmulatorEndpoints> {
  const out: Partial<EmulatorEndpoints> = {};
  for (const [emulator, proxy] of proxies)
    out[emulator] = emulator === "storage" ? `http://${proxy.hostPort}` : proxy.hostPort;
  return out;
}

async function main(): Promise<number> {
  const options = parseCliOptions(process.argv.slice(2), optionsSchema, USAGE);
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  process.stdout.write(`chaos: seed ${seed}\n`);
  const environments = options.envs.split(",").map((e) => parseEnvironmentName(e.trim()));
  if (environments.length < 2) throw new UsageError("--envs needs two environments, e.g. chaos-a,chaos-b");

  const counters = newFaultCounters();
  const emulators = await emulatorsFor(options);
  const closers: Array<() => Promise<void>> = [emulators.stop];
  const closeAll = async (): Promise<void> => {
    for (const close of closers.splice(0).reverse()) await close();
  };
  try {
    const cutters = await emulatorProxies(
      emulators.endpoints,
      options["cut-emulators"],
      options["emulator-cut-every"],
      seed,
      20,
    );
    closers.push(async () => {
      for (const proxy of cutters.values()) await proxy.close();
    });
    const ingressCutters = await emulatorProxies(
      emulators.endpoints,
      ["pubsub", "firestore"],
      options["ingress-cut-every"],
      seed,
      30,
    );
    closers.push(async () => {
      for (const proxy of ingressCutters.values()) await proxy.close();
    });
    // Every chaos conversation is one user's, and killed instances leave leases behind: the
    // per-user limits (4429) are not what chaos tests, so they are out of its way.
    process.env.TETHER_MAX_LIVE_SOCKETS_PER_USER ??= "100000";
    process.env.TETHER_MAX_CONVERSATIONS_PER_MINUTE ??= "100000";
    const stack = await startLocalStack({
      environments,
      host: HOST,
      basePort: 0,
      emulators: { existing: emulators.endpoints },
      workerEmulators: proxiedEndpoints(cutters),
      ...(ingressCutters.size === 0 ? {} : { ingressEmulators: proxiedEndpoints(ingressCutters) }),
      ingressInstances: options["ingress-instances"],
      chunkSeconds: 1,
      maxSocketSeconds: options["max-socket-seconds"],
      logger: createLogger({ level: process.env.LOG_LEVEL ?? "silent" }),
      wrapWorker: faultyWorkers(
        streamOf(seed, 1),
        { maxDelayMs: options["max-delay-ms"], failureRate: options["failure-rate"], maxDuplicateDelayMs: 2000 },
        counters,
      ),
    });
    closers.push(() => stack.stop());
    // Closed before the stack (closers run newest first): the extra deliveries use its clients.
    closers.push(() => extraDeliveriesSettled(counters));
    return await run(options, seed, environments, stack, counters, cutters, ingressCutters, closers);
  } finally {
    await closeAll();
  }
}

/**
 * One line per pushed worker: pushes in flight (the oldest's age), outcomes, slow pushes; and
 * this process's event-loop delay, which tells a CPU-starved worker from one waiting on I/O.
 */
function printPushStats(loop: IntervalHistogram): void {
  const now = performance.now();
  const ms = (ns: number) => Math.round(ns / 1e6);
  process.stderr.write(
    `  event loop delay: p50 ${ms(loop.percentile(50))} ms, p99 ${ms(loop.percentile(99))} ms, max ${ms(loop.max)} ms\n`,
  );
  loop.reset();
  for (const stats of pushStats()) {
    if (stats.inFlight === 0 && stats.outcomes.size === 0) continue;
    const oldest = stats.started.size > 0 ? Math.round((now - Math.min(...stats.started)) / 1000) : 0;
    const outcomes = [...stats.outcomes].map(([k, v]) => `${k}:${v}`).join(" ");
    process.stderr.write(
      `  push ${stats.path.split("/").pop()}: in flight ${stats.inFlight} (max ${stats.maxInFlight}, oldest ${oldest} s), ${outcomes}, >=1s ${stats.slow.s1} >=10s ${stats.slow.s10} >=60s ${stats.slow.s60}\n`,
    );
  }
}

/** Streams, faults and checks, on a started stack. */
async function run(
  options: Options,
  seed: number,
  environments: readonly EnvironmentName[],
  stack: RunningStack,
  counters: FaultCounters,
  cutters: ReadonlyMap<Emulator, FaultProxy>,
  ingressCutters: ReadonlyMap<Emulator, FaultProxy>,
  closers: Array<() => Promise<void>>,
): Promise<number> {
  const started = Date.now();
  const loop = monitorEventLoopDelay({ resolution: 20 });
  loop.enable();
  const statsTimer = setInterval(() => printPushStats(loop), 15_000);
  closers.push(async () => {
    clearInterval(statsTimer);
    loop.disable();
  });
  const audioMaker = startAudioMaker();
  closers.push(() => audioMaker.close());
  const proxies: FaultProxy[] = [];
  closers.push(async () => {
    for (const proxy of proxies) await proxy.close();
  });
  const targets = new Map<string, SmokeTarget>();
  for (const [i, environment] of environments.entries()) {
    const state = stack.state.envs[environment];
    if (!state) throw new Error(`the stack has no environment ${environment}`);
    // Clients reach the ingress through a TCP fault proxy that cuts connections mid-frame.
    const proxy = await startFaultProxy({
      target: targetOf(state.ingress_url),
      byBytes: { rate: options["cut-rate"], maxBytes: 150_000 },
      random: streamOf(seed, 2 + i),
    });
    proxies.push(proxy);
    targets.set(environment, {
      environment,
      ingressUrl: throughProxy(state.ingress_url, proxy),
      apiUrl: state.api_url,
      token: () => signAccessToken(state.token_secret, USER),
    });
  }
  const killer =
    options["kill-every"] > 0
      ? killIngressInstances(stack, environments, streamOf(seed, 10), around(options["kill-every"]))
      : undefined;
  closers.push(async () => killer?.stop());
  process.stdout.write(
    `chaos: ${options.conversations} conversations at a time into ${environments.join(", ")} for ${options.minutes} min, ${options["ingress-instances"]} ingress instances each\n`,
  );
  const latencies: number[] = [];
  const histories: ConversationHistory[] = [];
  const until = started + options.minutes * 60_000;
  let nextIndex = 0;
  const slot = async (): Promise<void> => {
    while (Date.now() < until) {
      const plan = planConversation(seed, nextIndex++, {
        environments,
        minSeconds: 3,
        maxSeconds: 15,
        maxDisconnects: 3,
      });
      const target = targets.get(plan.environment);
      if (!target) throw new Error(`no target ${plan.environment}`);
      const own: number[] = [];
      const history = await runConversation(plan, target, seed, own, audioMaker);
      histories.push(history);
      latencies.push(...own);
      const slowest = own.length > 0 ? `, slowest ack ${Math.round(Math.max(...own))} ms` : "";
      process.stderr.write(
        `  #${plan.index} ${history.conversationId ?? "-"} ${plan.environment}: ${history.bytesSent} bytes, ${history.disconnects} drops${slowest}${history.error ? `, ERROR ${history.error}` : ""}\n`,
      );
    }
  };
  await Promise.all(Array.from({ length: options.conversations }, () => slot()));
  // Every client is done: the faults stop, and what they left undone must now complete
  // (redelivery, retries, lost-request checks) before the deadline; then it is checked.
  killer?.stop();
  for (const proxy of [...proxies, ...cutters.values(), ...ingressCutters.values()]) proxy.heal();
  const streamedSeconds = (Date.now() - started) / 1000;

  process.stdout.write(`chaos: ${histories.length} conversations streamed; checking...\n`);
  const deadline = Date.now() + options.wait * 1000;
  histories.sort((a, b) => a.index - b.index);
  const observations = await Promise.all(
    histories.map((h) => {
      const target = targets.get(h.environment);
      if (!target) throw new Error(`no target ${h.environment}`);
      return observe(h, target, stack, environments, deadline);
    }),
  );
  const results = histories.map((h, i) => checkConversation(h, observations[i] as ConversationObservation));
  const extraction: Record<string, number> = {};
  for (const o of observations)
    extraction[o.extraction ?? "unknown"] = (extraction[o.extraction ?? "unknown"] ?? 0) + 1;

  const deadLetters: Record<string, number> = {};
  const runViolations: string[] = [];
  for (const environment of environments) {
    const runtime = stack.runtimes.get(environment);
    if (!runtime) continue;
    const views = await listDeadLetters(runtime.clients.pubsub, runtime.resources);
    for (const [reason, count] of Object.entries(countByReason(views))) {
      deadLetters[`${environment} ${reason}`] = count;
      // Only messages that can never succeed may be dead-lettered; this run sends none.
      runViolations.push(`${environment}: ${count} dead letter(s) with reason ${reason}`);
    }
    for (const view of views.slice(0, 5))
      runViolations.push(
        `${environment}: dead letter ${view.reason} of ${view.conversationId} from ${view.component}: ${view.detail}`,
      );
  }
  for (const [error, count] of counters.handlerErrors) process.stderr.write(`  worker error x${count}: ${error}\n`);

  const summary = {
    seed,
    seconds: streamedSeconds,
    results,
    extraction,
    deadLetters,
    ackLatenciesMs: latencies,
    concurrency: options.conversations,
    disconnects: histories.reduce((t, h) => t + h.disconnects, 0),
    proxyCuts: proxies.reduce((t, p) => t + p.cuts(), 0),
    ingressKills: killer?.kills() ?? 0,
    ingressDrains: killer?.drains() ?? 0,
    maxSocketSeconds: options["max-socket-seconds"],
    handovers: histories.reduce((t, h) => t + h.handovers, 0),
    emulatorCuts: Object.fromEntries([...cutters].map(([emulator, proxy]) => [emulator, proxy.cuts()])),
    ingressPubsubCuts: ingressCutters.get("pubsub")?.cuts() ?? 0,
    ingressFirestoreCuts: ingressCutters.get("firestore")?.cuts() ?? 0,
    faults: counters,
    runViolations,
  };
  process.stdout.write(`\n${formatSummary(summary)}\n`);
  const violations = allViolations(summary);
  if (violations.length > 0) {
    process.stdout.write(`\nVIOLATIONS (replay with --seed ${seed}):\n`);
    for (const v of violations) process.stdout.write(`  ${v}\n`);
    return 1;
  }
  process.stdout.write("\nno violations\n");
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    const usage = error instanceof UsageError || (error as { code?: unknown }).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION";
    process.stderr.write(
      `chaos: ${error instanceof Error ? error.message : String(error)}${usage ? `\n\n${USAGE}` : ""}\n`,
    );
    process.exit(2);
  },
);
