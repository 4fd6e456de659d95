/**
 * The conversation lifecycle: every change of a conversation's `status` and of its
 * extraction generation is one of the pure transitions below, applied by the ingress, the
 * workers and the orphan sweeper to the conversation document (each in one conditional
 * write), and read back by the API through `lifecycleView`. Nothing else writes
 * `status`.
 *
 *                  beginFinalize (ingress: client `finalize`, idle timeout, orphan sweep)
 *   in_progress ─────────────────────────────────────────────▶ finalizing
 *     │  ▲ commitDurable: durable_position and the count of          │
 *     └──┘ events each socket had confirmed by Pub/Sub               │ completeFinalization
 *                                                                    │ (persist-audio or events,
 *                                                                    │  whichever finishes last)
 *                                                                    ▼
 *                              extraction generation g+1 ◀──────── finalized
 *                              requested, then answered             │  ▲ dataChanged: a segment or
 *                                                                   └──┘ assignment changed after the
 *                                                                        flip → generation g+1
 *
 * The final cut. A finalize the server starts while the client may go on streaming (the
 * idle timeout) records `final_intent` (intendFinalize) before it publishes a partial final
 * chunk: if the instance dies before `finalizing`, the socket that resumes cuts the stream
 * at the same position and finalizes there, so the chunk of that index is the same chunk
 * whoever publishes it, and no longer audio is ever acknowledged for it.
 *
 * The barrier. `finalizing` freezes `final_position` (every chunk below it was published
 * before the write) and `events_recorded` (per socket, how many of its text events Pub/Sub
 * confirmed, numbered 1..n by the ingress). The flip to `finalized` needs both: every chunk
 * up to `final_position` persisted, and every recorded event marked applied by the events
 * worker (or rejected, with its reason). Delivery order plays no part.
 *
 * Extraction generations. The flip sets generation g = 1 (or one more); any change of
 * speaker data after it sets g + 1. A run works for the generation it read and writes its
 * result only if that generation is still the newest, so an older run can never overwrite a
 * newer one, and the API answers `pending` until the newest generation has a result.
 * `extraction_requested_generation` trails `extraction_generation` until the request for it
 * was published: a worker that finds the conversation finalized with a gap publishes again.
 */
import type {
  ConversationDoc,
  ExtractionStatus,
  ExtractionSummary,
  FinalIntent,
  RejectedEvent,
} from "./conversation-record";
import type { ConversationStatus, FinalizeReason } from "./conversation-values";

export type { ExtractionStatus, FinalIntent, RejectedEvent } from "./conversation-record";
export type { ConversationStatus, FinalizeReason } from "./conversation-values";

/**
 * The lifecycle's fields of a conversation document (shared/conversation-record.ts), as
 * these pure functions read them: of the generation's start only its time, and of the
 * extraction summary only its status and generation.
 */
export type LifecycleFields = Pick<
  ConversationDoc,
  | "status"
  | "durable_position"
  | "final_position"
  | "finalize_reason"
  | "final_intent"
  | "events_recorded"
  | "sessions_opened"
  | "events_recorded_order"
  | "extraction_generation"
  | "extraction_requested_generation"
  | "rejected_events"
> & {
  extraction_generation_at?: { toMillis(): number } | null;
  extraction?: Pick<ExtractionSummary, "status" | "generation">;
};

/** A finalize the server starts: the client did not ask for it, and may be streaming on. */
export type ServerFinalizeReason = FinalIntent["reason"];

/** A refusal: why the transition does not apply to the document as it is. */
export type Refusal =
  | { readonly refused: "not_in_progress"; readonly status: ConversationStatus }
  | { readonly refused: "not_finalizing"; readonly status: ConversationStatus };

// ---------------------------------------------------------------- the ingress

/** The fields a durable-position commit writes (no status change). */
export function commitDurable(
  doc: Pick<LifecycleFields, "status" | "durable_position" | "events_recorded">,
  commit: { position: number; sessionId: string; eventsConfirmed: number },
): Record<string, unknown> | Refusal | undefined {
  if (doc.status !== "in_progress") return { refused: "not_in_progress", status: doc.status };
  const recorded = doc.events_recorded?.[commit.sessionId] ?? 0;
  const update: Record<string, unknown> = {};
  if (commit.position > doc.durable_position) update.durable_position = commit.position;
  if (commit.eventsConfirmed > recorded) update[`events_recorded.${commit.sessionId}`] = commit.eventsConfirmed;
  return Object.keys(update).length === 0 ? undefined : update;
}

/**
 * A finalize the server started (not the client's `finalize`) will cut the stream at
 * `finalPosition` inside a chunk: recorded before that partial chunk is published, so a
 * socket that resumes after this instance died cuts at the same place (see the file's
 * comment). The client's own `finalize` needs none: after a resume it re-sends the same
 * tail and the same `finalize`.
 */
export function intendFinalize(
  doc: Pick<LifecycleFields, "status" | "final_intent">,
  intent: { finalPosition: number; reason: ServerFinalizeReason },
): Record<string, unknown> | Refusal | undefined {
  if (doc.status !== "in_progress") return { refused: "not_in_progress", status: doc.status };
  if (doc.final_intent?.final_position === intent.finalPosition) return undefined;
  return { final_intent: { final_position: intent.finalPosition, reason: intent.reason } satisfies FinalIntent };
}

/**
 * The partial final chunk was not published (its publish failed, the instance is alive to
 * know it): nothing to cut at any more, so a resume streams on as if no finalize had begun.
 */
export function withdrawFinalIntent(
  doc: Pick<LifecycleFields, "status" | "final_intent">,
): Record<string, unknown> | Refusal | undefined {
  if (doc.status !== "in_progress") return { refused: "not_in_progress", status: doc.status };
  return doc.final_intent === null || doc.final_intent === undefined ? undefined : { final_intent: null };
}

/**
 * The conversation is over. Called only once the final chunk and every event the socket
 * received are confirmed by Pub/Sub, so this one write makes everything durable and freezes
 * the barrier.
 */
export function beginFinalize(
  doc: Pick<LifecycleFields, "status" | "events_recorded">,
  request: { finalPosition: number; reason: FinalizeReason; sessionId: string; eventsConfirmed: number },
): Record<string, unknown> | Refusal {
  if (doc.status !== "in_progress") return { refused: "not_in_progress", status: doc.status };
  const update: Record<string, unknown> = {
    status: "finalizing" satisfies ConversationStatus,
    durable_position: request.finalPosition,
    final_position: request.finalPosition,
    finalize_reason: request.reason,
  };
  const recorded = doc.events_recorded?.[request.sessionId] ?? 0;
  if (request.eventsConfirmed > recorded) update[`events_recorded.${request.sessionId}`] = request.eventsConfirmed;
  return update;
}

/**
 * How many sockets' counts `events_recorded` keeps on the record. Bounded, so that no number
 * of reconnects takes the record past Firestore's limits; the SDK reads only its own recent
 * sockets' counts (a 4410's `events_recorded`), and the barrier reads the rest from the
 * session documents.
 */
export const EVENTS_RECORDED_SOCKETS = 16;

/** What opening a socket changes: its ordinal, the recent sockets, and the counts that move out. */
export interface OpenedSession {
  readonly fields: { sessions_opened: number; events_recorded_order?: string[] };
  /** Sockets whose counts leave `events_recorded` for their session documents. */
  readonly evicted: ReadonlyArray<{ readonly sessionId: string; readonly count: number }>;
}

/**
 * A socket opened the conversation: its ordinal orders its events after every earlier
 * socket's. With `sessionId` (a client's socket, which may send text) it joins the recent
 * sockets, and the oldest beyond `EVENTS_RECORDED_SOCKETS` leave (a record from before the
 * order existed: its unordered entries leave first).
 */
export function openSession(
  doc: Pick<LifecycleFields, "sessions_opened" | "events_recorded" | "events_recorded_order">,
  sessionId?: string,
): OpenedSession {
  const sessions_opened = (doc.sessions_opened ?? 0) + 1;
  if (sessionId === undefined) return { fields: { sessions_opened }, evicted: [] };
  const recorded = doc.events_recorded ?? {};
  const order = doc.events_recorded_order ?? [];
  const ordered = new Set(order);
  const unordered = Object.keys(recorded)
    .filter((id) => !ordered.has(id))
    .sort();
  const all = [...unordered, ...order.filter((id) => id !== sessionId), sessionId];
  const cut = Math.max(0, all.length - EVENTS_RECORDED_SOCKETS);
  const evicted = all
    .slice(0, cut)
    .flatMap((id) => (recorded[id] === undefined ? [] : [{ sessionId: id, count: recorded[id] }]));
  return { fields: { sessions_opened, events_recorded_order: all.slice(cut) }, evicted };
}

/** The barrier's counts: the record's recent sockets, and the older ones' from their session documents. */
export function allEventsRecorded(
  eventsRecorded: Readonly<Record<string, number>> | undefined,
  evicted: ReadonlyArray<{ readonly sessionId: string; readonly count: number }>,
): Record<string, number> {
  const all: Record<string, number> = { ...eventsRecorded };
  for (const { sessionId, count } of evicted) all[sessionId] = Math.max(all[sessionId] ?? 0, count);
  return all;
}

/**
 * Text a socket received after `beginFinalize` froze its count, confirmed by Pub/Sub before
 * the socket answers `finalized` (which tells the client it is durable): it joins the
 * barrier while `finalizing`, so the flip waits for it. Once `finalized` (the flip won the
 * race), the count is recorded and applying the text starts a newer generation
 * (`dataChanged`); no generation is started here, as nothing would request it. Undefined
 * when the record already counts it.
 */
export function lateEvents(
  doc: Pick<LifecycleFields, "status" | "events_recorded">,
  late: { sessionId: string; eventsConfirmed: number },
): Record<string, unknown> | Refusal | undefined {
  if (doc.status === "in_progress") return { refused: "not_finalizing", status: doc.status };
  if (late.eventsConfirmed <= (doc.events_recorded?.[late.sessionId] ?? 0)) return undefined;
  return { [`events_recorded.${late.sessionId}`]: late.eventsConfirmed };
}

/**
 * The conversation is being deleted (written with its tombstone). A streaming one is
 * finalized first, at its durable position, so its socket's next write hears 4410 with
 * `deleted` and no socket can resume it; a finished one keeps its status. Either way no
 * worker moves it on: they see the tombstone and store nothing.
 */
export function markDeleted(
  doc: Pick<LifecycleFields, "status" | "durable_position" | "final_position">,
): Pick<LifecycleFields, "finalize_reason"> & Partial<Pick<LifecycleFields, "status" | "final_position">> {
  return {
    finalize_reason: "deleted",
    ...(doc.status === "in_progress" ? { status: "finalizing", final_position: doc.durable_position } : {}),
  };
}

/** Optional in the transitions' inputs: a record without it is not being deleted. */
export type DeletionMark = { readonly finalize_reason?: FinalizeReason | null };

/** Whether the conversation is being deleted: from then on no transition moves it on. */
export function isBeingDeleted(doc: DeletionMark): boolean {
  return doc.finalize_reason === "deleted";
}

// ---------------------------------------------------------------- the barrier

/** One event of the barrier: socket `sessionId`'s event number `seq`. */
export interface EventKey {
  readonly sessionId: string;
  readonly seq: number;
}

/** Every event the barrier waits for, from the frozen counts. */
export function recordedEvents(eventsRecorded: Readonly<Record<string, number>> | undefined): EventKey[] {
  const keys: EventKey[] = [];
  for (const [sessionId, count] of Object.entries(eventsRecorded ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))) {
    for (let seq = 1; seq <= count; seq += 1) keys.push({ sessionId, seq });
  }
  return keys;
}

/** The document id of an event's applied marker (`applied_events/{id}`). */
export function appliedEventId(key: EventKey): string {
  return `${key.sessionId}:${String(key.seq).padStart(9, "0")}`;
}

/**
 * The version of what an event writes: later sockets win over earlier ones, and within one
 * socket later events over earlier ones, whatever the order Pub/Sub delivers them in.
 */
export function eventRevision(sessionOrdinal: number, seq: number): number {
  return sessionOrdinal * 1_000_000_000 + seq;
}

export type Completion =
  | { readonly ready: true; readonly update: Record<string, unknown>; readonly generation: number }
  | { readonly ready: false; readonly waitingFor: "chunks" | "events"; readonly missing: number }
  | Refusal;

/**
 * `finalizing` → `finalized`, when the audio is complete and every recorded event is
 * applied; `finalized_at` is the caller's (a server timestamp).
 */
export function completeFinalization(
  doc: Pick<LifecycleFields, "status" | "extraction_generation"> & DeletionMark,
  facts: { missingChunks: number; missingEvents: number; rejected: readonly RejectedEvent[] },
): Completion {
  if (doc.status !== "finalizing" || isBeingDeleted(doc)) return { refused: "not_finalizing", status: doc.status };
  if (facts.missingChunks > 0) return { ready: false, waitingFor: "chunks", missing: facts.missingChunks };
  if (facts.missingEvents > 0) return { ready: false, waitingFor: "events", missing: facts.missingEvents };
  const generation = (doc.extraction_generation ?? 0) + 1;
  return {
    ready: true,
    generation,
    update: {
      status: "finalized" satisfies ConversationStatus,
      extraction_generation: generation,
      rejected_events: [...facts.rejected],
    },
  };
}

// ---------------------------------------------------------------- extraction generations

/**
 * Speaker data was written at `writtenAtMs` (its commit time). A generation started after
 * that write covers it; otherwise, once finalized, a newer generation must start. Before the
 * flip nothing is needed: the flip's own generation starts after every write it waited for.
 * The caller adds `extraction_generation_at` (the commit time of its write).
 */
export function dataChanged(
  doc: Pick<LifecycleFields, "status" | "extraction_generation" | "extraction_generation_at"> & DeletionMark,
  writtenAtMs: number,
): { update: { extraction_generation: number }; generation: number } | undefined {
  if (doc.status !== "finalized" || isBeingDeleted(doc)) return undefined;
  const startedAtMs = doc.extraction_generation_at?.toMillis();
  if (startedAtMs !== undefined && startedAtMs > writtenAtMs) return undefined;
  const generation = (doc.extraction_generation ?? 0) + 1;
  return { update: { extraction_generation: generation }, generation };
}

/** The generation whose request still has to be published, if any. */
export function unrequestedGeneration(
  doc: Pick<LifecycleFields, "status" | "extraction_generation" | "extraction_requested_generation"> & DeletionMark,
): number | undefined {
  if (doc.status !== "finalized" || isBeingDeleted(doc)) return undefined;
  const generation = doc.extraction_generation ?? 0;
  return generation > (doc.extraction_requested_generation ?? 0) ? generation : undefined;
}

/**
 * How long the worker that started a generation has to publish its request before any
 * other worker that finds the gap publishes it again (a crash between the two writes, a
 * failed publish). Shorter would flood the topic with duplicates while the first publish
 * is merely slow; each duplicate is another extraction run contending for the same documents.
 */
export const LOST_REQUEST_GRACE_MS = 60_000;

/** The generation whose request was lost (unrequested for longer than the grace), if any. */
export function lostRequestGeneration(
  doc: Pick<
    LifecycleFields,
    "status" | "extraction_generation" | "extraction_requested_generation" | "extraction_generation_at"
  > &
    DeletionMark,
  nowMs: number,
): number | undefined {
  const generation = unrequestedGeneration(doc);
  if (generation === undefined) return undefined;
  const startedAtMs = doc.extraction_generation_at?.toMillis() ?? 0;
  return nowMs - startedAtMs >= LOST_REQUEST_GRACE_MS ? generation : undefined;
}

/** The request for `generation` was published. */
export function extractionRequested(
  doc: Pick<LifecycleFields, "extraction_requested_generation">,
  generation: number,
): Record<string, unknown> | undefined {
  return generation > (doc.extraction_requested_generation ?? 0)
    ? { extraction_requested_generation: generation }
    : undefined;
}

/** Whether a run for `generation` may write its result: only the newest generation's may. */
export function mayRecordExtraction(
  doc: Pick<LifecycleFields, "status" | "extraction_generation"> & DeletionMark,
  generation: number,
): boolean {
  return doc.status === "finalized" && !isBeingDeleted(doc) && (doc.extraction_generation ?? 0) === generation;
}

// ---------------------------------------------------------------- what the API says

export interface LifecycleView {
  readonly status: ConversationStatus;
  /** PROTOCOL section 3: `done`/`failed` only for the newest generation's finished run. */
  readonly extractionStatus: ExtractionStatus;
  /** Whether the stored per-person result belongs to the newest generation. */
  readonly extractionCurrent: boolean;
}

export function lifecycleView(
  doc: Pick<LifecycleFields, "status" | "extraction_generation" | "extraction" | "rejected_events">,
): LifecycleView {
  const summary = doc.extraction;
  const current =
    doc.status === "finalized" &&
    summary !== undefined &&
    summary.generation !== undefined &&
    summary.generation === (doc.extraction_generation ?? 0);
  let extractionStatus: ExtractionStatus = "pending";
  if (current && summary.status !== "pending") {
    extractionStatus = (doc.rejected_events?.length ?? 0) > 0 ? "failed" : summary.status;
  }
  return { status: doc.status, extractionStatus, extractionCurrent: current };
}
