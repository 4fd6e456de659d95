/**
 * The one home of Firestore's composite indexes: every query the code issues that
 * Firestore's automatic single-field indexes cannot serve has its index declared here.
 *
 * infra/database.ts deploys each as a `gcp.firestore.Index`; shared/firestore-query.ts, the
 * only way the code queries, checks each query's shape against these rules before it runs,
 * and refuses one without an index, as production Firestore would (`FAILED_PRECONDITION`).
 * The emulator serves any query, so without this check a missing index shows up only once
 * deployed.
 */
import { COLLECTIONS } from "./firestore-schema";

export type IndexOrder = "ASCENDING" | "DESCENDING";

export interface CompositeIndex {
  /** The collection id (the last segment of the collection's path). */
  readonly collection: string;
  /** Equality fields first, then the ordered ones, as Firestore lists them. */
  readonly fields: readonly { readonly field: string; readonly order: IndexOrder }[];
  /** Which query needs it. */
  readonly usedBy: string;
}

export const FIRESTORE_INDEXES: readonly CompositeIndex[] = [
  {
    collection: COLLECTIONS.conversations,
    fields: [
      { field: "user_id", order: "ASCENDING" },
      { field: "created_at", order: "DESCENDING" },
      { field: "id", order: "DESCENDING" },
    ],
    usedBy: "GET /v1/conversations (functions/api/conversation-list.ts)",
  },
];

/** The document id as a field of a query (`FieldPath.documentId()`). */
export const DOCUMENT_ID = "__name__";

/** What of a query decides which index serves it. */
export interface QueryShape {
  readonly collection: string;
  /** A collection-group query (every collection of that id). */
  readonly group: boolean;
  /** Fields compared with `==` or `in`. */
  readonly equalities: readonly string[];
  /** Fields compared with `<`, `<=`, `>`, `>=`, `!=`, `not-in`; anything else counts as one too. */
  readonly ranges: readonly string[];
  readonly orders: readonly { readonly field: string; readonly order: IndexOrder }[];
}

export const EQUALITY_OPERATORS: ReadonlySet<string> = new Set(["==", "in"]);

export function describeShape(shape: QueryShape): string {
  const parts = [
    ...shape.equalities.map((f) => `${f} ==`),
    ...shape.ranges.map((f) => `${f} range`),
    ...shape.orders.map((o) => `order ${o.field} ${o.order === "ASCENDING" ? "asc" : "desc"}`),
  ];
  return `${shape.group ? "collection group " : ""}${shape.collection} (${parts.join(", ") || "all"})`;
}

/** The orders a query runs in: the explicit ones, a range field first, `__name__` dropped. */
function effectiveOrders(shape: QueryShape): QueryShape["orders"] {
  const orders = shape.orders.filter((o) => o.field !== DOCUMENT_ID);
  const range = [...new Set(shape.ranges)];
  if (range.length === 1 && range[0] !== undefined && orders.length === 0) {
    return [{ field: range[0], order: "ASCENDING" }];
  }
  return orders;
}

/**
 * Whether Firestore's automatic single-field indexes serve the query (no exemptions are
 * declared): equality filters only (merged), or one field filtered by range and/or ordered,
 * and no other; `__name__` may always be the last order. Conservative: a shape this does not
 * recognise needs a declared index.
 */
export function servedBySingleFieldIndexes(shape: QueryShape): boolean {
  if (shape.group) return false;
  const ranges = new Set(shape.ranges);
  const orders = effectiveOrders(shape);
  if (ranges.size === 0 && orders.length === 0) return true;
  if (shape.equalities.length > 0) return false;
  if (ranges.size > 1 || orders.length > 1) return false;
  const field = orders[0]?.field;
  return [...ranges].every((r) => r === field);
}

/** Whether a declared composite index serves the query: equality fields (any order), then its orders. */
export function indexServes(index: CompositeIndex, shape: QueryShape): boolean {
  if (shape.group || index.collection !== shape.collection) return false;
  const equalities = new Set(shape.equalities);
  const orders = effectiveOrders(shape);
  if (new Set(shape.ranges).size > 1) return false;
  const range = shape.ranges[0];
  if (range !== undefined && orders[0]?.field !== range) return false;
  if (index.fields.length !== equalities.size + orders.length) return false;
  const head = index.fields.slice(0, equalities.size);
  const tail = index.fields.slice(equalities.size);
  return (
    head.every((f) => equalities.has(f.field)) &&
    tail.every((f, i) => f.field === orders[i]?.field && f.order === orders[i]?.order)
  );
}

/** The index that serves the query: "single-field", a declared one, or undefined (Firestore would refuse it). */
export function indexFor(
  shape: QueryShape,
  indexes: readonly CompositeIndex[] = FIRESTORE_INDEXES,
): "single-field" | CompositeIndex | undefined {
  if (servedBySingleFieldIndexes(shape)) return "single-field";
  return indexes.find((index) => indexServes(index, shape));
}
