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

/** One list item from a stored conversation. Pure. */
export function listItem(id: string, doc: ConversationDoc): ConversationListItem {
  const units = doc.status === "in_progress" ? doc.durable_position : (doc.final_position ?? doc.durable_position);
  return {
    id,
    status: doc.status,
    started_at: isoTime(doc.created_at),
    duration_ms: Math.round(unitsToMilliseconds(doc.codec, doc.sample_rate, units ?? 0)),
  };
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
    conversations: docs.filter((doc) => doc.data().deleted_at === undefined).map((doc) => listItem(doc.id, doc.data())),
    next_cursor:
      snapshot.docs.length > query.limit && last && lastDoc
        ? encodeCursor({ t: lastDoc.created_at.toMillis(), id: last.id })
        : null,
  };
}
