/**
 * `GET /v1/conversations?limit=N&cursor=C` (PROTOCOL.md section 3): the caller's
 * conversations in this environment, newest first, a page at a time.
 *
 * The cursor is opaque to clients: the last item's creation time and id, so a page never
 * repeats or skips a conversation, even when several share a creation time or new ones
 * start while the client pages (those appear on a new first page).
 */
import type { Firestore } from "@google-cloud/firestore";
import { Timestamp } from "@google-cloud/firestore";
import { z } from "zod";
import { unitsToMilliseconds } from "../../shared/audio-format";
import type { Principal } from "../../shared/auth";
import { queryOf } from "../../shared/firestore-query";
import { COLLECTIONS, CONVERTERS, type ConversationDoc } from "../../shared/firestore-schema";
import { conversationIdSchema } from "../../shared/identifiers";
import { chunkRecordsBelow } from "../chunk-records";
import { isoTime } from "./conversations";
import { decodeCursor, encodeCursor } from "./cursor";
import { ApiError } from "./errors";

export const DEFAULT_LIST_LIMIT = 20;
export const MAX_LIST_LIMIT = 100;

export interface ConversationListItem {
  id: string;
  status: ConversationDoc["status"];
  started_at: string | null;
  duration_ms: number;
}

export interface ConversationList {
  conversations: ConversationListItem[];
  next_cursor: string | null;
}

const cursorSchema = z.object({ t: z.number().int().min(0), id: conversationIdSchema });
type Cursor = z.infer<typeof cursorSchema>;

/** The query's `limit` and `cursor`, validated (400 otherwise). Pure. */
export function parseListQuery(params: URLSearchParams): { limit: number; cursor: Cursor | undefined } {
  const rawLimit = params.get("limit");
  const limit = rawLimit === null ? DEFAULT_LIST_LIMIT : Number(rawLimit);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw new ApiError(400, `limit must be an integer from 1 to ${MAX_LIST_LIMIT}`);
  }
  return { limit, cursor: decodeCursor(params.get("cursor"), cursorSchema) };
}

/** The conversation's length in units: what is durable, or where it was frozen. */
function positionOf(doc: ConversationDoc): number {
  return (doc.status === "in_progress" ? doc.durable_position : (doc.final_position ?? doc.durable_position)) ?? 0;
}

/**
 * How long an Opus conversation plays, in one aggregation: Opus packets last 2.5 to 120 ms,
 * so its packet count alone does not say. The chunk records' decoded `samples` do; packets
 * not stored yet (or in records from before `samples`) count at the measured average, or
 * at 20 ms when nothing is measured.
 */
async function opusDurationMs(db: Firestore, id: string, doc: ConversationDoc): Promise<number> {
  const packets = positionOf(doc);
  if (packets === 0) return 0;
  const { samples } = await chunkRecordsBelow(db, id, Math.ceil(packets / doc.chunk_size)).sums("samples");
  const measuredPackets = Math.min(packets, samples.holding * doc.chunk_size);
  const unmeasuredMs =
    measuredPackets === 0
      ? unitsToMilliseconds("opus", doc.sample_rate, packets)
      : (((packets - measuredPackets) * samples.sum) / measuredPackets / doc.sample_rate) * 1000;
  return (samples.sum / doc.sample_rate) * 1000 + unmeasuredMs;
}

/** One list item from a stored conversation: one aggregation for Opus, no read for pcm16. */
export async function listItem(db: Firestore, id: string, doc: ConversationDoc): Promise<ConversationListItem> {
  const durationMs =
    doc.codec === "opus"
      ? await opusDurationMs(db, id, doc)
      : unitsToMilliseconds(doc.codec, doc.sample_rate, positionOf(doc));
  return { id, status: doc.status, started_at: isoTime(doc.created_at), duration_ms: Math.round(durationMs) };
}

export async function listConversations(
  db: Firestore,
  principal: Principal,
  query: { limit: number; cursor: Cursor | undefined },
): Promise<ConversationList> {
  let ref = queryOf(db.collection(COLLECTIONS.conversations).withConverter(CONVERTERS.conversation))
    .filter("user_id", "==", principal.userId)
    .order("created_at", "desc")
    .order("id", "desc");
  if (query.cursor) ref = ref.startAfter(Timestamp.fromMillis(query.cursor.t), query.cursor.id);
  const snapshot = await ref.limit(query.limit + 1).get();
  const docs = snapshot.docs.slice(0, query.limit);
  const last = docs.at(-1);
  const lastDoc = last?.data();
  return {
    // One being deleted is gone for its owner already (its purge follows within seconds).
    conversations: await Promise.all(
      docs.filter((doc) => doc.data().deleted_at === undefined).map((doc) => listItem(db, doc.id, doc.data())),
    ),
    next_cursor:
      snapshot.docs.length > query.limit && last && lastDoc
        ? encodeCursor({ t: lastDoc.created_at.toMillis(), id: last.id })
        : null,
  };
}
