/**
 * The only way tether's code filters or orders a Firestore query: a thin builder whose
 * `filter`/`order` record the query's shape and, before it runs, check that an index serves
 * it (shared/firestore-indexes.ts). A unit test keeps Firestore's own `.where(`/`.orderBy(`
 * out of every other file.
 *
 * Production Firestore refuses a query with no index (`FAILED_PRECONDITION`); the emulator
 * serves it. The check makes every environment refuse it the same way, so a test that runs
 * a query path fails on a missing index long before a deployment does.
 */
import {
  AggregateField,
  type CollectionReference,
  type DocumentData,
  type FieldPath,
  type Query,
  type QuerySnapshot,
  type WhereFilterOp,
} from "@google-cloud/firestore";
import { describeShape, EQUALITY_OPERATORS, FIRESTORE_INDEXES, indexFor, type QueryShape } from "./firestore-indexes";

export class MissingIndexError extends Error {
  override name = "MissingIndexError";
  constructor(readonly shape: QueryShape) {
    super(
      `no Firestore index serves the query ${describeShape(shape)}: declare a composite index in ` +
        "shared/firestore-indexes.ts (infra deploys it), or change the query",
    );
  }
}

/** Throws `MissingIndexError` unless an index serves the shape. */
export function assertIndexed(shape: QueryShape): void {
  if (indexFor(shape, FIRESTORE_INDEXES) === undefined) throw new MissingIndexError(shape);
}

export class IndexedQuery<T extends DocumentData> {
  private constructor(
    private readonly query: Query<T>,
    readonly shape: QueryShape,
  ) {}

  static of<T extends DocumentData>(collection: CollectionReference<T>): IndexedQuery<T> {
    return new IndexedQuery(collection, {
      collection: collection.id,
      group: false,
      equalities: [],
      ranges: [],
      orders: [],
    });
  }

  filter(field: string | FieldPath, op: WhereFilterOp, value: unknown): IndexedQuery<T> {
    const key = EQUALITY_OPERATORS.has(op) ? "equalities" : "ranges";
    return new IndexedQuery(this.query.where(field, op, value), {
      ...this.shape,
      [key]: [...this.shape[key], field.toString()],
    });
  }

  order(field: string | FieldPath, direction: "asc" | "desc" = "asc"): IndexedQuery<T> {
    return new IndexedQuery(this.query.orderBy(field, direction), {
      ...this.shape,
      orders: [
        ...this.shape.orders,
        { field: field.toString(), order: direction === "asc" ? "ASCENDING" : "DESCENDING" },
      ],
    });
  }

  /** Cursors and limits do not change which index serves the query. */
  startAfter(...values: unknown[]): IndexedQuery<T> {
    return new IndexedQuery(this.query.startAfter(...values), this.shape);
  }

  limit(count: number): IndexedQuery<T> {
    return new IndexedQuery(this.query.limit(count), this.shape);
  }

  select(...fields: string[]): IndexedQuery<DocumentData> {
    return new IndexedQuery(this.query.select(...fields), this.shape);
  }

  async get(): Promise<QuerySnapshot<T>> {
    assertIndexed(this.shape);
    return await this.query.get();
  }

  async count(): Promise<number> {
    assertIndexed(this.shape);
    return (await this.query.count().get()).data().count;
  }

  /**
   * Each field's sum over the matching documents, and how many of them hold it (one
   * aggregation). Firestore cannot filter on a field's absence, but its sum and average both
   * skip documents without the field, so sum / average counts those with it: exact for a
   * field whose values are positive integers (the average's rounding is far below one count).
   * Firestore takes at most five aggregations a query: two fields.
   */
  async sums<K extends string>(...fields: K[]): Promise<Record<K, { sum: number; holding: number }>> {
    assertIndexed(this.shape);
    const spec = Object.fromEntries(
      fields.flatMap((field) => [
        [`sum_${field}`, AggregateField.sum(field)],
        [`avg_${field}`, AggregateField.average(field)],
      ]),
    );
    const data = (await this.query.aggregate(spec).get()).data() as Record<string, number | null>;
    return Object.fromEntries(
      fields.map((field) => {
        const sum = data[`sum_${field}`] ?? 0;
        const average = data[`avg_${field}`] ?? null;
        if (average === 0) throw new Error(`cannot count the documents holding ${field}: its values are all 0`);
        return [field, { sum, holding: average === null ? 0 : Math.round(sum / average) }];
      }),
    ) as Record<K, { sum: number; holding: number }>;
  }
}

/** A query on `collection`, checked against the declared indexes when it runs. */
export function queryOf<T extends DocumentData>(collection: CollectionReference<T>): IndexedQuery<T> {
  return IndexedQuery.of(collection);
}
