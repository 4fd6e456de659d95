/**
 * Which queries need a composite index (Firestore's rules for its automatic single-field
 * indexes), whether a declared index serves a query, and that every filtered or ordered
 * query of the code goes through the checking builder (shared/firestore-query.ts).
 */
import fs from "node:fs";
import path from "node:path";
import {
  type CompositeIndex,
  DOCUMENT_ID,
  FIRESTORE_INDEXES,
  indexFor,
  indexServes,
  type QueryShape,
  servedBySingleFieldIndexes,
} from "../../shared/firestore-indexes";
import { assertIndexed, MissingIndexError } from "../../shared/firestore-query";

const shape = (partial: Partial<QueryShape>): QueryShape => ({
  collection: "conversations",
  group: false,
  equalities: [],
  ranges: [],
  orders: [],
  ...partial,
});
const asc = (field: string) => ({ field, order: "ASCENDING" as const });
const desc = (field: string) => ({ field, order: "DESCENDING" as const });

/** GET /v1/conversations (functions/api/conversation-list.ts). */
const LIST = shape({ equalities: ["user_id"], orders: [desc("created_at"), desc("id")] });

describe("single-field indexes", () => {
  test.each([
    ["no filter, no order", shape({})],
    ["equalities only, merged", shape({ equalities: ["status", "user_id"] })],
    ["equality, ordered by document id", shape({ equalities: ["status"], orders: [asc(DOCUMENT_ID)] })],
    ["one order", shape({ orders: [asc("index")] })],
    ["one order, descending", shape({ orders: [desc("created_at")] })],
    ["a range", shape({ ranges: ["index"] })],
    ["a range on the ordered field", shape({ ranges: ["index"], orders: [desc("index")] })],
  ])("serve %s", (_, query) => {
    expect(servedBySingleFieldIndexes(query)).toBe(true);
  });

  test.each([
    ["an equality and an order on another field", shape({ equalities: ["user_id"], orders: [desc("created_at")] })],
    ["an equality and a range on another field", shape({ equalities: ["user_id"], ranges: ["created_at"] })],
    ["two orders", shape({ orders: [asc("a"), asc("b")] })],
    ["a range on one field, ordered by another", shape({ ranges: ["a"], orders: [asc("b")] })],
    ["ranges on two fields", shape({ ranges: ["a", "b"] })],
    ["a collection group", shape({ group: true })],
    ["the conversation list", LIST],
  ])("do not serve %s", (_, query) => {
    expect(servedBySingleFieldIndexes(query)).toBe(false);
  });
});

describe("composite indexes", () => {
  const index: CompositeIndex = {
    collection: "conversations",
    fields: [asc("user_id"), desc("created_at"), desc("id")].map(({ field, order }) => ({ field, order })),
    usedBy: "test",
  };

  test("serve exactly their equality fields, then their orders in order and direction", () => {
    expect(indexServes(index, LIST)).toBe(true);
    expect(indexServes(index, { ...LIST, orders: [desc("created_at"), desc("id"), desc(DOCUMENT_ID)] })).toBe(true);
    expect(indexServes(index, { ...LIST, orders: [asc("created_at"), asc("id")] })).toBe(false);
    expect(indexServes(index, { ...LIST, orders: [desc("id"), desc("created_at")] })).toBe(false);
    expect(indexServes(index, { ...LIST, equalities: ["user_id", "status"] })).toBe(false);
    expect(indexServes(index, { ...LIST, collection: "people" })).toBe(false);
    expect(indexServes(index, { ...LIST, group: true })).toBe(false);
  });

  test("the conversation list is served by a declared index, and refused without one", () => {
    expect(indexFor(LIST)).toMatchObject({
      collection: "conversations",
      usedBy: expect.stringMatching(/conversations/),
    });
    expect(indexFor(LIST, [])).toBeUndefined();
    expect(() => assertIndexed(shape({ equalities: ["user_id"], orders: [asc("status")] }))).toThrow(MissingIndexError);
  });

  test("every declared index is needed: single-field indexes would not serve its query", () => {
    for (const declared of FIRESTORE_INDEXES) {
      const query = shape({
        collection: declared.collection,
        equalities: declared.fields.slice(0, 1).map((f) => f.field),
        orders: declared.fields.slice(1),
      });
      expect(servedBySingleFieldIndexes(query)).toBe(false);
      expect(indexFor(query)).toBe(declared);
    }
  });
});

describe("the code's queries", () => {
  const ROOT = path.resolve(__dirname, "../..");
  const BUILDER = "shared/firestore-query.ts";
  const sources = (dir: string): string[] =>
    fs
      .readdirSync(path.join(ROOT, dir), { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile() && entry.name.endsWith(".ts"))
      .map((entry) => path.relative(ROOT, path.join(entry.parentPath, entry.name)));

  test("filter and order only through the index-checking builder", () => {
    const offending = ["functions", "shared", "local", "scripts"]
      .flatMap(sources)
      .filter((file) => file !== BUILDER)
      .filter((file) =>
        /\.(where|orderBy|findNearest|collectionGroup)\(/.test(fs.readFileSync(path.join(ROOT, file), "utf8")),
      );
    expect(offending).toEqual([]);
  });
});
