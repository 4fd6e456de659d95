/**
 * The invariants of `npm run chaos` (scripts/chaos.ts), as pure functions: what one
 * conversation's client did (its history) against what storage and the API hold at the end
 * (the observation), and the one table of the run. Every broken invariant becomes a
 * violation line; the run exits non-zero if there is any.
 */
import { distribution } from "../local/stats";

/** What a conversation's client did and heard. */
export interface ConversationHistory {
  readonly index: number;
  readonly environment: string;
  conversationId: string | undefined;
  /** Every byte written, in order. */
  readonly sent: Buffer[];
  bytesSent: number;
  /** The highest position the server acknowledged. */
  acked: number;
  /** The position of the `finalized` the client received, if any. */
  finalizedAt: number | undefined;
  /** Each segment id's expected text and person (scripts/chaos-plan.ts `expectedSegments`). */
  expected: Map<string, { text: string; personId: string | null }>;
  disconnects: number;
  /** Moves to a new socket after the server's `goaway` (drains, socket-age limits). */
  handovers: number;
  /** A terminal SDK error, if the session stopped on one. */
  error: string | undefined;
}

/** What storage and the API hold for it at the end. */
export interface ConversationObservation {
  readonly status: string | undefined;
  readonly position: number | undefined;
  readonly extraction: string | undefined;
  /** PCM of audio.wav, or undefined if it could not be read. */
  readonly pcm: Buffer | undefined;
  readonly segments: ReadonlyArray<{ id: string; text: string; person_id: string | null }>;
  /** Object names of this conversation found in another environment's bucket. */
  readonly objectsElsewhere: readonly string[];
  /** Why the observation is incomplete (e.g. timed out waiting for `finalized`). */
  readonly problems: readonly string[];
}

export interface ConversationResult {
  readonly bytesSent: number;
  readonly bytesStored: number;
  readonly bytesLost: number;
  readonly bytesDuplicated: number;
  readonly bytesDifferent: number;
  readonly objectsElsewhere: number;
  readonly segmentsMissing: number;
  readonly segmentsWrong: number;
  readonly extractionMissedData: boolean;
  readonly violations: string[];
}

/** Compares one conversation's history with what the pipeline holds. Pure. */
export function checkConversation(h: ConversationHistory, o: ConversationObservation): ConversationResult {
  const name = `conversation #${h.index} ${h.conversationId ?? "(no id)"} in ${h.environment}`;
  const violations: string[] = o.problems.map((p) => `${name}: ${p}`);
  if (h.error !== undefined) violations.push(`${name}: the SDK stopped with ${h.error}`);
  const sent = Buffer.concat(h.sent);
  const stored = o.pcm ?? Buffer.alloc(0);
  let different = 0;
  const overlap = Math.min(sent.length, stored.length);
  for (let i = 0; i < overlap; i += 1) if (sent[i] !== stored[i]) different += 1;
  const lost = Math.max(0, sent.length - stored.length);
  const duplicated = Math.max(0, stored.length - sent.length);
  if (o.pcm === undefined) violations.push(`${name}: audio.wav could not be read`);
  else if (lost > 0 || duplicated > 0 || different > 0) {
    let first = 0;
    while (first < overlap && sent[first] === stored[first]) first += 1;
    violations.push(
      `${name}: audio.wav holds ${stored.length} bytes, ${sent.length} were sent (${lost} lost, ${duplicated} extra, ${different} differ; first difference at byte ${first})`,
    );
  }
  if (h.acked > stored.length) violations.push(`${name}: ${h.acked} bytes were acknowledged, ${stored.length} stored`);
  if (h.finalizedAt !== undefined && h.finalizedAt !== h.bytesSent)
    violations.push(`${name}: finalized at ${h.finalizedAt}, ${h.bytesSent} bytes were written`);
  if (o.status !== "finalized") violations.push(`${name}: status ${o.status ?? "unknown"}, expected finalized`);
  if (o.position !== undefined && o.position !== h.bytesSent)
    violations.push(`${name}: the API says position ${o.position}, ${h.bytesSent} bytes were written`);
  if (o.objectsElsewhere.length > 0)
    violations.push(`${name}: objects in another environment's bucket: ${o.objectsElsewhere.slice(0, 3).join(", ")}`);

  const listed = new Map(o.segments.map((s) => [s.id, s]));
  let missing = 0;
  let wrong = 0;
  for (const [id, want] of h.expected) {
    const got = listed.get(id);
    if (got === undefined) {
      missing += 1;
      violations.push(`${name}: segment ${id} was sent but is not listed`);
    } else if (got.text !== want.text || got.person_id !== want.personId) {
      wrong += 1;
      violations.push(
        `${name}: segment ${id} reads ${JSON.stringify({ text: got.text, person_id: got.person_id })}, expected ${JSON.stringify({ text: want.text, person_id: want.personId })}`,
      );
    }
  }
  const missedData = o.extraction === "done" && (missing > 0 || wrong > 0);
  if (missedData) violations.push(`${name}: extraction is done although segments are missing or stale`);
  if (o.extraction === "pending") violations.push(`${name}: extraction still pending at the end`);
  return {
    bytesSent: sent.length,
    bytesStored: stored.length,
    bytesLost: lost,
    bytesDuplicated: duplicated,
    bytesDifferent: different,
    objectsElsewhere: o.objectsElsewhere.length,
    segmentsMissing: missing,
    segmentsWrong: wrong,
    extractionMissedData: missedData,
    violations,
  };
}

export interface RunSummary {
  readonly seed: number;
  readonly seconds: number;
  readonly results: readonly ConversationResult[];
  readonly extraction: Readonly<Record<string, number>>;
  readonly deadLetters: Readonly<Record<string, number>>;
  readonly ackLatenciesMs: readonly number[];
  /** Conversations streaming at once. */
  readonly concurrency: number;
  readonly disconnects: number;
  /** Client connections the TCP fault proxy cut mid-stream. */
  readonly proxyCuts: number;
  /** Ingress instance processes SIGKILLed. */
  readonly ingressKills: number;
  /** Ingress instance processes SIGTERMed (drained). */
  readonly ingressDrains: number;
  /** A socket's maximum life (the ingress sends `goaway` before it). */
  readonly maxSocketSeconds: number;
  /** Client moves to a new socket after `goaway`, over every conversation. */
  readonly handovers: number;
  /** Connections between the workers and each emulator cut by a TCP fault proxy, by emulator. */
  readonly emulatorCuts: Readonly<Record<string, number>>;
  /** Connections between the ingress instances and the Pub/Sub emulator cut by a TCP fault proxy. */
  readonly ingressPubsubCuts: number;
  /** Connections between the ingress instances and the Firestore emulator cut by a TCP fault proxy. */
  readonly ingressFirestoreCuts: number;
  readonly faults: { deliveries: number; duplicates: number; injectedFailures: number };
  /** Violations not tied to one conversation (e.g. dead letters). */
  readonly runViolations: readonly string[];
}

export function allViolations(summary: RunSummary): string[] {
  return [...summary.runViolations, ...summary.results.flatMap((r) => r.violations)];
}

/** The one table of the run. Pure. */
export function formatSummary(s: RunSummary): string {
  const sum = (f: (r: ConversationResult) => number) => s.results.reduce((t, r) => t + f(r), 0);
  const latency = distribution(s.ackLatenciesMs);
  const fmt = (n: number) => n.toLocaleString("en");
  const byReason = (counts: Readonly<Record<string, number>>) =>
    Object.keys(counts).length === 0
      ? "0"
      : Object.entries(counts)
          .map(([k, v]) => `${k}: ${v}`)
          .join(", ");
  const violations = allViolations(s).length;
  const rows: Array<[string, string]> = [
    ["seed", String(s.seed)],
    ["duration", `${s.seconds.toFixed(0)} s`],
    ["conversations", `${fmt(s.results.length)} (${fmt(s.concurrency)} streaming at once)`],
    ["socket drops (client)", fmt(s.disconnects)],
    ["connections cut (client-ingress)", fmt(s.proxyCuts)],
    ["ingress instances killed", fmt(s.ingressKills)],
    ["ingress instances drained (SIGTERM)", fmt(s.ingressDrains)],
    ["handovers after goaway", `${fmt(s.handovers)} (sockets live at most ${s.maxSocketSeconds} s)`],
    [
      "connections cut (workers-emulators)",
      `${fmt(Object.values(s.emulatorCuts).reduce((a, b) => a + b, 0))} (${byReason(s.emulatorCuts)})`,
    ],
    ["connections cut (ingress-Pub/Sub)", fmt(s.ingressPubsubCuts)],
    ["connections cut (ingress-Firestore)", fmt(s.ingressFirestoreCuts)],
    [
      "worker deliveries",
      `${fmt(s.faults.deliveries)} (${fmt(s.faults.duplicates)} duplicates, ${fmt(s.faults.injectedFailures)} injected failures)`,
    ],
    ["bytes sent", fmt(sum((r) => r.bytesSent))],
    ["bytes stored", fmt(sum((r) => r.bytesStored))],
    ["bytes lost", fmt(sum((r) => r.bytesLost))],
    ["bytes duplicated", fmt(sum((r) => r.bytesDuplicated))],
    ["bytes different", fmt(sum((r) => r.bytesDifferent))],
    ["objects in wrong environment", fmt(sum((r) => r.objectsElsewhere))],
    ["segments missing", fmt(sum((r) => r.segmentsMissing))],
    ["segments stale (text/person)", fmt(sum((r) => r.segmentsWrong))],
    ["extraction runs that missed data", fmt(sum((r) => (r.extractionMissedData ? 1 : 0)))],
    ["extraction outcome", byReason(s.extraction)],
    ["dead letters by reason", byReason(s.deadLetters)],
    [
      "ack latency p50 / p99",
      latency.count === 0
        ? "no acks"
        : `${Math.round(latency.p50)} ms / ${Math.round(latency.p99)} ms (max ${Math.round(latency.max)}, ${fmt(latency.count)} acks)`,
    ],
    ["violations", fmt(violations)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n");
}
