/**
 * `npm run bench -- handover`: the longest pause between two acks of a conversation while
 * its socket moves, p50/p99 over many moves, for a drain (SIGTERM: `goaway`, make before
 * break) beside an abrupt kill (SIGKILL: the client notices, backs off, reconnects).
 *
 * One conversation streams 16 kHz pcm16 in real time (1 s chunks) through the local stack
 * with two ingress instances; every few seconds the instance that carries it is signalled.
 * A move's pause is the longest gap between consecutive acks that ends within 10 s after
 * the signal (acks normally come once per chunk, so 1 s is the floor).
 */
import { connect } from "../client";
import { type RunningStack, startLocalStack } from "../local/stack";
import { distribution, formatDistribution } from "../local/stats";
import { signAccessToken } from "../shared/auth";
import { parseEnvironmentName } from "../shared/environment";
import { createLogger } from "../shared/logger";
import type { BenchContext } from "./run";

const SAMPLE_RATE = 16000;
const BYTES_PER_SECOND = SAMPLE_RATE * 2;
const FRAME = BYTES_PER_SECOND / 10;
const SIGNAL_EVERY_MS = 4_000;
const WINDOW_MS = 10_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

async function connections(instanceUrl: string): Promise<number> {
  const url = new URL(instanceUrl);
  return await fetch(`http://${url.host}/healthz`)
    .then(async (r) => ((await r.json()) as { connections?: number }).connections ?? 0)
    .catch(() => 0);
}

/** Streams one conversation, signalling the instance that carries it `moves` times; returns each move's pause. */
async function pauses(stack: RunningStack, env: string, signal: NodeJS.Signals, moves: number): Promise<number[]> {
  const environment = parseEnvironmentName(env);
  const state = stack.state.envs[environment];
  if (!state) throw new Error(`no ${env} in the stack`);
  const session = await connect({
    url: state.ingress_url,
    token: await signAccessToken(state.token_secret, "bench-handover"),
    codec: "pcm16",
    sampleRate: SAMPLE_RATE,
    maxReconnectAttempts: 100,
  });
  const acks: number[] = [];
  session.on("ack", () => acks.push(performance.now()));
  session.on("ready", () => acks.push(performance.now())); // a ready's position acknowledges too
  const signals: number[] = [];
  const start = performance.now();
  let sent = 0;
  let nextSignal = start + SIGNAL_EVERY_MS;
  const frame = Buffer.alloc(FRAME, 1);
  while (signals.length < moves || performance.now() < (signals.at(-1) ?? 0) + WINDOW_MS) {
    await sleep(start + (sent / BYTES_PER_SECOND) * 1000 - performance.now());
    await session.write(frame);
    sent += FRAME;
    if (signals.length < moves && performance.now() >= nextSignal) {
      nextSignal += SIGNAL_EVERY_MS;
      for (const instance of stack.ingressInstances(environment)) {
        if ((await connections(instance.url)) === 0) continue;
        if (stack.killIngressInstance(environment, instance.pid, signal)) signals.push(performance.now());
        break;
      }
    }
  }
  await session.finalize();
  return signals.map((at) => {
    let longest = 0;
    for (let i = 1; i < acks.length; i += 1) {
      const end = acks[i] ?? 0;
      if (end > at && end <= at + WINDOW_MS) longest = Math.max(longest, end - (acks[i - 1] ?? end));
    }
    return longest;
  });
}

export async function run(context: BenchContext): Promise<void> {
  const moves = context.short ? 5 : 20;
  const env = `bench-ho-${Date.now().toString(36)}`;
  const stack = await startLocalStack({
    environments: [parseEnvironmentName(env)],
    host: context.host,
    basePort: 0,
    emulators: {
      existing: {
        pubsub: context.emulatorEnv.PUBSUB_EMULATOR_HOST ?? "",
        firestore: context.emulatorEnv.FIRESTORE_EMULATOR_HOST ?? "",
        storage: context.emulatorEnv.STORAGE_EMULATOR_HOST ?? "",
      },
    },
    chunkSeconds: 1,
    ingressInstances: 2,
    logger: createLogger({ level: "silent" }),
  });
  try {
    const drained = distribution(await pauses(stack, env, "SIGTERM", moves));
    context.report(`longest ack pause, drain (SIGTERM, goaway): ${formatDistribution(drained)}`);
    const killed = distribution(await pauses(stack, env, "SIGKILL", moves));
    context.report(`longest ack pause, abrupt kill (SIGKILL):  ${formatDistribution(killed)}`);
    context.report("(1 s chunks, 16 kHz pcm16 in real time; acks normally come once a second)");
  } finally {
    await stack.stop();
  }
}
