/**
 * `GET /v1/conversations/{id}/history`: one conversation's history on its audio's time axis
 * (seconds from position 0), built from what the stack records anyway:
 * - each socket (`sessions`): where in the audio it opened, the chunks it carried, how it
 *   closed, and the `goaway` it was sent (a handover);
 * - chunks: published (the record's durable position, what the ingress acknowledged) and
 *   stored (`chunks`, each with the socket that carried it);
 * - text events applied or rejected (`applied_events`), per socket;
 * - finalize, the flip to `finalized`, extraction generations and their result, and the
 *   notifications each of those steps publishes (their ids are deterministic);
 * - redeliveries and dead letters (`deliveries`, written only on those rare paths).
 *
 * Every read is bounded (the caps below); a list that hit its cap says so in `truncated`.
 */
import type { Firestore } from "@google-cloud/firestore";
import { errorCodeForClose } from "../../shared/close-codes";
import type { DocumentOf } from "../../shared/document-schema";
import { queryOf } from "../../shared/firestore-query";
import {
  type AppliedEventDoc,
  appliedEventDocSchema,
  COLLECTIONS,
  type ConversationDoc,
  chunkDocSchema,
  conversationRef,
  type DeliveryDoc,
  deliveryDocSchema,
  fieldsOf,
  parseDocument,
  type SessionDoc,
} from "../../shared/firestore-schema";
import { lifecycleView } from "../../shared/lifecycle";
import { notificationId } from "../../shared/notifications";
import { listChunkRecords } from "../chunk-records";
import { isoTime, listSessions, MAX_SESSIONS_LISTED } from "./conversations";

/** The most documents of each kind one history reads (3000 chunks: 4 hours, the default size limit, even at 5 s chunks). */
export const HISTORY_CAPS = { chunks: 3000, appliedEvents: 2000, deliveries: 200 } as const;

export type HistoryAppliedEvent = Pick<AppliedEventDoc, "session_id" | "seq" | "outcome" | "reason" | "applied_at">;

/** The chunk fields the history reads (a projection: only these are selected). */
const historyChunkSchema = chunkDocSchema.pick({
  index: true,
  start: true,
  end: true,
  bytes: true,
  session_id: true,
  samples: true,
  persisted_at: true,
});

export interface HistoryInput {
  readonly conversation: ConversationDoc;
  readonly sessions: readonly SessionDoc[];
  readonly chunks: ReadonlyArray<DocumentOf<typeof historyChunkSchema>>;
  readonly appliedEvents: readonly HistoryAppliedEvent[];
  readonly deliveries: readonly DeliveryDoc[];
  readonly truncated: readonly string[];
}

export interface HistorySocket {
  session_id: string;
  /** Audio seconds [from_s, to_s) of the chunks this socket carried (from its opening position when none). */
  from_s: number;
  to_s: number;
  start_position: number;
  bytes: number;
  chunks: number;
  started_at: string | null;
  ended_at: string | null;
  close_code: number | null;
  /** What the close code means (`superseded`, `finalized`, `dropped`, ...). */
  closed_as: string | null;
  goaway: string | null;
  events_applied: number;
  events_rejected: number;
}

export type HistoryEventKind =
  | "socket_opened"
  | "handover"
  | "chunk_stored"
  | "text_applied"
  | "text_rejected"
  | "redelivered"
  | "dead_lettered"
  | "finalize"
  | "finalized"
  | "extraction_requested"
  | "extraction_result"
  | "notification";

export interface HistoryEvent {
  kind: HistoryEventKind;
  /** Audio seconds the event is about (its range, when it has one). */
  at_s: number;
  to_s?: number;
  /** Wall-clock time it was recorded, when recorded. */
  time: string | null;
  session_id?: string;
  /** One sentence. */
  text: string;
}

export interface HistoryView {
  conversation_id: string;
  environment: string;
  status: string;
  codec: string;
  sample_rate: number;
  /** Audio seconds the ingress acknowledged (published), and that are stored (contiguous from 0). */
  published_s: number;
  stored_s: number;
  duration_s: number;
  sockets: HistorySocket[];
  events: HistoryEvent[];
  truncated: string[];
}

/** Position units to audio seconds: bytes for pcm16, packets laid out by the chunks' samples for opus. Pure. */
export function positionClock(
  conversation: Pick<ConversationDoc, "codec" | "sample_rate">,
  chunks: HistoryInput["chunks"],
): (position: number) => number {
  const rate = conversation.sample_rate;
  if (conversation.codec === "pcm16") return (position) => position / 2 / rate;
  const sorted = [...chunks].sort((a, b) => a.index - b.index);
  const layout: Array<{ start: number; end: number; first: number; samples: number }> = [];
  let first = 0;
  for (const c of sorted) {
    // A chunk without a sample count: Opus's common 20 ms per packet.
    const samples = c.samples ?? ((c.end - c.start) * rate) / 50;
    layout.push({ start: c.start, end: c.end, first, samples });
    first += samples;
  }
  return (position) => {
    const span = layout.find((s) => position >= s.start && position < s.end) ?? layout.at(-1);
    if (span === undefined) return position / 50;
    const fraction = (position - span.start) / Math.max(1, span.end - span.start);
    return (span.first + fraction * span.samples) / rate;
  };
}

function closedAs(code: number | null): string | null {
  if (code === null) return null;
  if (code === 1000) return "finalized";
  if (code === 1005 || code === 1006) return "dropped";
  return errorCodeForClose(code) ?? `closed ${code}`;
}

const round = (s: number) => Math.round(s * 1000) / 1000;

/** The history of one conversation. Pure. */
export function historyView(input: HistoryInput): HistoryView {
  const { conversation } = input;
  const seconds = positionClock(conversation, input.chunks);
  const chunks = [...input.chunks].sort((a, b) => a.index - b.index);
  const events: HistoryEvent[] = [];

  const sessions = [...input.sessions].sort(
    (a, b) => a.started_at.toMillis() - b.started_at.toMillis() || a.session_id.localeCompare(b.session_id),
  );
  const sockets = sessions.map((s): HistorySocket => {
    const carried = chunks.filter((c) => c.session_id === s.session_id);
    const applied = input.appliedEvents.filter((e) => e.session_id === s.session_id);
    const from = carried[0]?.start ?? s.start_position;
    const to = carried.at(-1)?.end ?? s.start_position;
    return {
      session_id: s.session_id,
      from_s: round(seconds(Math.min(from, s.start_position))),
      to_s: round(seconds(to)),
      start_position: s.start_position,
      bytes: carried.reduce((sum, c) => sum + c.bytes, 0),
      chunks: carried.length,
      started_at: isoTime(s.started_at),
      ended_at: isoTime(s.ended_at),
      close_code: s.close_code,
      closed_as: closedAs(s.close_code),
      goaway: s.goaway ?? null,
      events_applied: applied.filter((e) => e.outcome === "applied").length,
      events_rejected: applied.filter((e) => e.outcome === "rejected").length,
    };
  });
  for (const [i, s] of sockets.entries()) {
    const resumed = i > 0 ? ` (resumed at ${s.from_s.toFixed(1)} s)` : "";
    events.push({
      kind: "socket_opened",
      at_s: s.from_s,
      to_s: s.to_s,
      time: s.started_at,
      session_id: s.session_id,
      text: `socket ${i + 1} opened${resumed}, carried ${s.chunks} chunk(s), ${s.bytes} bytes; ${
        s.closed_as ? `closed as ${s.closed_as}` : "still open"
      }`,
    });
    if (s.goaway) {
      events.push({
        kind: "handover",
        at_s: s.to_s,
        time: s.ended_at,
        session_id: s.session_id,
        text: `socket ${i + 1} was sent goaway (${s.goaway}); the client moved to a new socket`,
      });
    }
    if (s.events_applied + s.events_rejected > 0) {
      events.push({
        kind: "text_applied",
        at_s: s.from_s,
        to_s: s.to_s,
        time: null,
        session_id: s.session_id,
        text: `${s.events_applied} text event(s) of socket ${i + 1} applied${
          s.events_rejected > 0 ? `, ${s.events_rejected} rejected` : ""
        }`,
      });
    }
  }
  for (const c of chunks) {
    events.push({
      kind: "chunk_stored",
      at_s: round(seconds(c.start)),
      to_s: round(seconds(c.end)),
      time: isoTime(c.persisted_at),
      session_id: c.session_id,
      text: `chunk ${c.index} stored (${c.bytes} bytes)`,
    });
  }
  for (const e of input.appliedEvents.filter((a) => a.outcome === "rejected")) {
    const socket = sockets.find((s) => s.session_id === e.session_id);
    events.push({
      kind: "text_rejected",
      at_s: socket?.to_s ?? 0,
      time: isoTime(e.applied_at),
      session_id: e.session_id,
      text: `text event ${e.seq} was rejected: ${e.reason ?? "no reason recorded"}`,
    });
  }
  for (const d of input.deliveries) {
    const range =
      d.start !== undefined && d.end !== undefined
        ? { at_s: round(seconds(d.start)), to_s: round(seconds(d.end)) }
        : undefined;
    const chunk = d.chunk_index !== undefined ? `chunk ${d.chunk_index}` : "a message";
    events.push({
      kind: d.kind,
      ...(range ?? { at_s: round(seconds(conversation.durable_position)) }),
      time: isoTime(d.last_at),
      ...(d.session_id !== undefined ? { session_id: d.session_id } : {}),
      text:
        d.kind === "redelivered"
          ? `${chunk} was delivered to ${d.worker} again after it was stored (${d.count} time${d.count === 1 ? "" : "s"}); nothing was written twice`
          : `${chunk} was dead-lettered by ${d.worker}: ${d.reason ?? "?"} (${d.detail ?? ""})`,
    });
  }

  const published_s = round(seconds(conversation.durable_position));
  const stored_s = round(seconds(contiguousEnd(chunks)));
  const end = conversation.final_position ?? conversation.durable_position;
  if (conversation.final_position !== null) {
    events.push({
      kind: "finalize",
      at_s: round(seconds(conversation.final_position)),
      time: null,
      text: `finalize (${conversation.finalize_reason ?? "?"}): the audio ends at ${conversation.final_position} ${
        conversation.codec === "pcm16" ? "bytes" : "packets"
      }`,
    });
  }
  const lifecycle = lifecycleView(conversation);
  const endS = round(seconds(end));
  if (lifecycle.status === "finalized") {
    const time = isoTime(conversation.finalized_at);
    events.push({ kind: "finalized", at_s: endS, time, text: "every chunk and text event is stored: finalized" });
    events.push({
      kind: "notification",
      at_s: endS,
      time,
      text: `notification tether.conversation.finalized (id ${notificationId("tether.conversation.finalized", conversation.id)})`,
    });
  }
  const generation = conversation.extraction_generation ?? 0;
  if (generation > 0) {
    const requested = conversation.extraction_requested_generation ?? 0;
    events.push({
      kind: "extraction_requested",
      at_s: endS,
      time: isoTime(conversation.extraction_generation_at),
      text: `extraction generation ${generation} started${
        requested < generation ? " (its request is not published yet)" : " and requested"
      }`,
    });
  }
  const result = conversation.extraction;
  if (result !== undefined && result.status !== "pending") {
    const type = result.status === "done" ? "tether.extraction.done" : "tether.extraction.failed";
    const current = (result.generation ?? 0) === generation;
    const time = isoTime(result.updated_at);
    events.push({
      kind: "extraction_result",
      at_s: endS,
      time,
      text: `extraction run of generation ${result.generation ?? 0}: ${result.status}, ${result.people.length} person(s)${
        current ? "" : ` (outdated: generation ${generation} is newer)`
      }`,
    });
    if (current) {
      events.push({
        kind: "notification",
        at_s: endS,
        time,
        text: `notification ${type} (id ${notificationId(type, conversation.id, result.generation)})`,
      });
    }
  }

  events.sort((a, b) => a.at_s - b.at_s || (a.time ?? "").localeCompare(b.time ?? ""));
  return {
    conversation_id: conversation.id,
    environment: conversation.environment,
    status: lifecycle.status,
    codec: conversation.codec,
    sample_rate: conversation.sample_rate,
    published_s,
    stored_s,
    duration_s: Math.max(published_s, stored_s, endS),
    sockets,
    events,
    truncated: [...input.truncated],
  };
}

function contiguousEnd(sorted: HistoryInput["chunks"]): number {
  let end = 0;
  for (const [i, c] of sorted.entries()) {
    if (c.index !== i) break;
    end = c.end;
  }
  return end;
}

/** The applied-event fields the history reads (a projection: only these are selected). */
const historyAppliedSchema = appliedEventDocSchema.pick({
  session_id: true,
  seq: true,
  outcome: true,
  reason: true,
  applied_at: true,
});

/** Reads what the history needs, each list capped. */
export async function loadHistory(db: Firestore, conversation: ConversationDoc): Promise<HistoryView> {
  const ref = conversationRef(db, conversation.id);
  const truncated: string[] = [];
  const capped = <T>(what: string, list: T[], cap: number): T[] => {
    if (list.length > cap) truncated.push(what);
    return list.slice(0, cap);
  };
  const [sessions, chunkRecords, appliedSnap, deliverySnap] = await Promise.all([
    listSessions(db, conversation.id),
    listChunkRecords(db, conversation.id, historyChunkSchema, { limit: HISTORY_CAPS.chunks + 1 }),
    queryOf(ref.collection(COLLECTIONS.appliedEvents))
      .select(...fieldsOf(historyAppliedSchema))
      .limit(HISTORY_CAPS.appliedEvents + 1)
      .get(),
    queryOf(ref.collection(COLLECTIONS.deliveries))
      .limit(HISTORY_CAPS.deliveries + 1)
      .get(),
  ]);
  const chunks = capped("chunks", chunkRecords, HISTORY_CAPS.chunks);
  const appliedEvents = capped(
    "applied_events",
    appliedSnap.docs.map((d) => parseDocument(historyAppliedSchema, d.ref.path, d.data())),
    HISTORY_CAPS.appliedEvents,
  );
  const deliveries = capped(
    "deliveries",
    deliverySnap.docs.map((d) => parseDocument(deliveryDocSchema, d.ref.path, d.data())),
    HISTORY_CAPS.deliveries,
  );
  if (sessions.length >= MAX_SESSIONS_LISTED) truncated.push("sessions");
  return historyView({ conversation, sessions, chunks, appliedEvents, deliveries, truncated });
}
