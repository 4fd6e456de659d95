/**
 * `GET /v1/conversations/{id}/segments?limit=N&cursor=C` (PROTOCOL.md section 3): the
 * segments of every session in time order, a page at a time, so no answer reads more than
 * `limit` segments and their `limit` assignments, however large the conversation.
 *
 * Order: by `start`, then by segment id (the document id), which Firestore serves from
 * the automatic single-field index. The cursor is opaque to clients: the last segment's
 * start and id, so a page never repeats or skips a segment.
 */
import { FieldPath, type Firestore } from "@google-cloud/firestore";
import { z } from "zod";
import { queryOf } from "../../shared/firestore-query";
import { assignmentRef, COLLECTIONS, CONVERTERS, conversationRef } from "../../shared/firestore-schema";
import { type SegmentView, segmentView } from "./conversations";
import { decodeCursor, encodeCursor } from "./cursor";
import { ApiError } from "./errors";

export const DEFAULT_SEGMENTS_LIMIT = 1000;
export const MAX_SEGMENTS_LIMIT = 1000;

const segmentCursorSchema = z.object({ s: z.number().finite().min(0), id: z.string().min(1) });
type SegmentCursor = z.infer<typeof segmentCursorSchema>;

export interface SegmentsQuery {
  readonly limit: number;
  readonly cursor: SegmentCursor | undefined;
}

export interface SegmentsPage {
  segments: SegmentView[];
  next_cursor: string | null;
}

/** The query's `limit` and `cursor`, validated (400 otherwise). Pure. */
export function parseSegmentsQuery(params: URLSearchParams): SegmentsQuery {
  const rawLimit = params.get("limit");
  const limit = rawLimit === null ? DEFAULT_SEGMENTS_LIMIT : Number(rawLimit);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_SEGMENTS_LIMIT) {
    throw new ApiError(400, `limit must be an integer from 1 to ${MAX_SEGMENTS_LIMIT}`);
  }
  return { limit, cursor: decodeCursor(params.get("cursor"), segmentCursorSchema) };
}

/** One page of the conversation's segments, with their speaker assignments applied. */
export async function segmentsPage(db: Firestore, conversationId: string, query: SegmentsQuery): Promise<SegmentsPage> {
  const ref = conversationRef(db, conversationId);
  let segments = queryOf(ref.collection(COLLECTIONS.segments).withConverter(CONVERTERS.segment))
    .order("start")
    .order(FieldPath.documentId());
  if (query.cursor) segments = segments.startAfter(query.cursor.s, query.cursor.id);
  const snapshot = await segments.limit(query.limit + 1).get();
  const docs = snapshot.docs.slice(0, query.limit);
  // An assignment is stored under its segment's id: this page's, and no more, are read.
  const assignments =
    docs.length === 0
      ? []
      : await db.getAll(
          ...docs.map((doc) => assignmentRef(db, conversationId, doc.id).withConverter(CONVERTERS.assignment)),
        );
  const assigned = new Map(
    assignments.flatMap((a) => {
      const data = a.data();
      return data === undefined ? [] : [[data.segment_id, data.person_id] as const];
    }),
  );
  const last = docs.at(-1);
  return {
    segments: docs.map((doc) => segmentView(doc.data(), assigned)),
    next_cursor:
      snapshot.docs.length > query.limit && last !== undefined
        ? encodeCursor({ s: last.data().start, id: last.id })
        : null,
  };
}

/** Every segment, page after page (tests and tools; the API answers one page). */
export async function allSegments(db: Firestore, conversationId: string): Promise<SegmentView[]> {
  const all: SegmentView[] = [];
  let cursor: SegmentCursor | undefined;
  for (;;) {
    const page = await segmentsPage(db, conversationId, { limit: MAX_SEGMENTS_LIMIT, cursor });
    all.push(...page.segments);
    if (page.next_cursor === null) return all;
    cursor = decodeCursor(page.next_cursor, segmentCursorSchema);
  }
}
