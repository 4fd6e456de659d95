/**
 * The fuzzer's target: one environment of the local stack (real ingress, workers and
 * API) on the test run's emulators, with its log lines captured, and the checks every
 * fuzz run ends with: the sockets' properties (test/support/fuzz-run.ts), no worker error
 * repeating on redelivery, and that the ingress and the API still serve.
 */
import { describeFailure } from "../../functions/failure-kind";
import { WORKER_FAILED } from "../../functions/workers";
import { startLocalStack } from "../../local/stack";
import { parseEnvironmentName } from "../../shared/environment";
import { apiRequest, checkVisible, type FuzzTarget, playSocket } from "./fuzz-run";
import type { SocketCase } from "./fuzz-traffic";
import { onRunningEmulators, uniqueEnvironmentName } from "./test-environment";
import { type CapturedLogs, captureLogs } from "./workers-logs";

export interface FuzzStack {
  readonly target: FuzzTarget;
  readonly logs: CapturedLogs;
  /** How the played sockets ended, e.g. `4400 at handshake`, `finalized`, `acked then drop`. */
  readonly outcomes: Map<string, number>;
  /** Plays the sockets at once, then checks what the API shows and the workers' logs. */
  socketsHold(cases: readonly SocketCase[]): Promise<void>;
  /** Throws unless the API answers /healthz and the ingress accepts and finalizes a socket. */
  stillServing(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Worker failures that repeat on redelivery: the same error for the same message twice
 * when it is permanent (it can never succeed), or five times whatever it is.
 */
export function repeatedWorkerFailures(lines: CapturedLogs["lines"]): string[] {
  const counts = new Map<string, { count: number; permanent: boolean }>();
  for (const line of lines) {
    if (line.message !== WORKER_FAILED) continue;
    const err = line.err as { message?: string } | undefined;
    const key = `${String(line.subscription)} message ${String(line.message_id)}: ${err?.message ?? "?"}`;
    const entry = counts.get(key) ?? { count: 0, permanent: describeFailure(err).kind === "permanent" };
    entry.count += 1;
    counts.set(key, entry);
  }
  return [...counts]
    .filter(([, e]) => (e.permanent && e.count >= 2) || e.count >= 5)
    .map(([key, e]) => `${e.count}x ${key}`);
}

export async function startFuzzStack(): Promise<FuzzStack> {
  const environment = parseEnvironmentName(uniqueEnvironmentName("fuzz"));
  const logs = captureLogs();
  // Cases share a few user ids: the per-user limits (4429, tested in ingress-limits) are out of the way.
  process.env.TETHER_MAX_LIVE_SOCKETS_PER_USER ??= "100000";
  process.env.TETHER_MAX_CONVERSATIONS_PER_MINUTE ??= "100000";
  // A key set as after a rotation (a current and a retiring key), so tokens of either `kid` are drawn.
  process.env.TETHER_TOKEN_KID ??= "fuzz-current";
  process.env.TETHER_TOKEN_RETIRING_KID ??= "fuzz-retiring";
  process.env.TETHER_TOKEN_RETIRING_SECRET ??= "fuzz-retiring-key-0123456789abcdef";
  const stack = await startLocalStack({
    environments: [environment],
    ...onRunningEmulators(),
    chunkSeconds: 0.1,
    idleTimeoutSeconds: 30,
    logger: logs.logger,
  });
  const state = stack.state.envs[environment];
  if (!state) throw new Error("the fuzz environment is missing from the stack");
  const target: FuzzTarget = {
    ingressUrl: state.ingress_url,
    apiUrl: state.api_url,
    tokenKeys: {
      current: { kid: process.env.TETHER_TOKEN_KID, secret: state.token_secret },
      retiring: [{ kid: process.env.TETHER_TOKEN_RETIRING_KID, secret: process.env.TETHER_TOKEN_RETIRING_SECRET }],
    },
  };
  const outcomes = new Map<string, number>();
  return {
    target,
    logs,
    outcomes,
    async socketsHold(cases) {
      const results = await Promise.all(cases.map((c) => playSocket(target, c)));
      for (const [i, r] of results.entries()) {
        const o = r.expectation.outcome;
        const key =
          o.kind === "refused"
            ? `${o.closeCode} ${o.at === "handshake" ? "at the handshake" : "mid-stream"}`
            : r.finalized
              ? "finalized"
              : `accepted, then ${cases[i]?.end}`;
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      }
      await Promise.all(results.map((r, i) => checkVisible(target, cases[i] as SocketCase, r)));
      const repeated = repeatedWorkerFailures(logs.lines);
      if (repeated.length > 0) throw new Error(`worker errors repeat on redelivery:\n${repeated.join("\n")}`);
    },
    async stillServing() {
      const health = await apiRequest(target.apiUrl, { path: "/healthz" });
      if (health.status !== 200) throw new Error(`the API stopped answering /healthz (${health.status})`);
      const probe = await playSocket(target, {
        query: { codec: "pcm16", sample_rate: "8000", uniquify: false },
        token: {
          delivery: "header",
          alg: "HS256",
          key: "environment",
          sub: "fuzz-liveness",
          exp: "future",
          nbf: "absent",
        },
        actions: [{ audio: { pcmBytes: 2, seed: 0 } }],
        end: "finalize",
      });
      if (probe.conversationId === undefined) throw new Error("the ingress stopped accepting sockets");
    },
    stop: () => stack.stop(),
  };
}
