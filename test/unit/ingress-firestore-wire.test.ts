/**
 * The hand-written BatchWrite request and response (functions/ingress/firestore-wire.ts)
 * against the client library: each write is byte for byte the Write message the library's
 * `WriteBatch.update(ref, data, {lastUpdateTime})` builds (encoded with the protobuf
 * definitions it ships), and what the library's BatchWriteResponse carries reads back.
 */
import { FieldValue, Firestore, Timestamp } from "@google-cloud/firestore";
import fc from "fast-check";
import type { Type } from "protobufjs";
import { decodeBatchWriteResponse, encodeBatchWriteRequest, encodeWrite } from "../../functions/ingress/firestore-wire";
import { newSessionId } from "../../functions/ingress/ids";
import { encodeAs, firestoreType } from "../support/firestore-protos";

const Write = firestoreType("Write");
const BatchWriteRequest = firestoreType("BatchWriteRequest");
const BatchWriteResponse = firestoreType("BatchWriteResponse");

/** A decoded message, as protobufjs's toObject gives it (longs as strings). */
const plain = (type: Type, bytes: Uint8Array): Record<string, unknown> =>
  type.toObject(type.decode(bytes), { longs: String, defaults: false });

// Built offline: no call is made, the project id only names the documents.
const db = new Firestore({ projectId: "p-wire", databaseId: "tether-dev" });
const DATABASE = "projects/p-wire/databases/tether-dev";
const ref = db.doc("conversations/cAbc_-1");
const NAME = `${DATABASE}/documents/conversations/cAbc_-1`;

/** The Write the library sends for `ref.update(data, {lastUpdateTime})`, encoded as its gRPC call encodes it. */
function libraryWrite(data: Record<string, unknown>, lastUpdateTime: Timestamp): Buffer {
  const batch = db.batch().update(ref, data, { lastUpdateTime });
  const ops = (batch as unknown as { _ops: Array<{ op(): object }> })._ops;
  return encodeAs(Write, (ops[0] as { op(): object }).op());
}

function expectSameAsLibrary(
  data: Record<string, unknown>,
  lastUpdateTime = new Timestamp(1_765_000_000, 123_456_000),
) {
  expect(encodeWrite({ name: NAME, data, lastUpdateTime }).toString("hex")).toBe(
    libraryWrite(data, lastUpdateTime).toString("hex"),
  );
}

const session = "sQm9-_x2Zk3aB1c-Y8d_wZ";
const at = new Timestamp(1_765_000_123, 456_789_000);

describe("encodeWrite", () => {
  it("writes each of the store's updates as the library does", () => {
    // commitDurable, beginFinalize, intendFinalize, withdrawFinalIntent (shared/lifecycle.ts).
    expectSameAsLibrary({ durable_position: 3_200_000, [`events_recorded.${session}`]: 7, updated_at: at });
    expectSameAsLibrary({ durable_position: 96_000, updated_at: at });
    expectSameAsLibrary({
      status: "finalizing",
      durable_position: 1_234_567,
      final_position: 1_234_567,
      finalize_reason: "idle_timeout",
      [`events_recorded.${session}`]: 3,
      updated_at: at,
    });
    expectSameAsLibrary({ final_intent: { final_position: 160_000, reason: "idle_timeout" }, updated_at: at });
    expectSameAsLibrary({ final_intent: null, updated_at: at });
  });

  it("quotes a session id with `-` in the mask, and sorts the mask as the library does", () => {
    const write = plain(
      Write,
      encodeWrite({
        name: NAME,
        data: { updated_at: at, "events_recorded.s-b": 1, "events_recorded.sa": 2, durable_position: 0 },
        lastUpdateTime: at,
      }),
    );
    expect(write.updateMask).toEqual({
      fieldPaths: ["durable_position", "events_recorded.`s-b`", "events_recorded.sa", "updated_at"],
    });
    expect(write.currentDocument).toEqual({ updateTime: { seconds: String(at.seconds), nanos: at.nanoseconds } });
  });

  it("encodes edge values as the library does", () => {
    expectSameAsLibrary({ a: 0, b: -1, c: Number.MAX_SAFE_INTEGER, d: Number.MIN_SAFE_INTEGER, e: "" });
    expectSameAsLibrary({ t0: new Timestamp(0, 0), t1: new Timestamp(-5, 1), t2: new Timestamp(1, 0) });
    expectSameAsLibrary({ m: {}, n: { "clé é": { deep: null, "😀": "välue 😀" } }, "x.y.z": 1 });
    expectSameAsLibrary({ v: 1 }, new Timestamp(0, 999_999_999));
  });

  it("matches the library for random updates of the supported types", () => {
    const leaf = fc.oneof(
      fc.maxSafeInteger(),
      fc.string({ unit: "grapheme", maxLength: 30 }),
      fc.constant(null),
      fc
        .tuple(fc.integer({ min: -62_135_596_800, max: 253_402_300_799 }), fc.integer({ min: 0, max: 999_999_999 }))
        .map(([s, n]) => new Timestamp(s, n)),
    );
    const value = fc.letrec<{ value: unknown }>((tie) => ({
      value: fc.oneof(
        { depthSize: "small" },
        leaf,
        fc.dictionary(
          fc.string({ unit: "grapheme", minLength: 1, maxLength: 8 }).filter((key) => key !== "__proto__"),
          tie("value"),
          { maxKeys: 4 },
        ),
      ),
    })).value;
    const segment = fc.oneof(
      fc.constantFrom("durable_position", "events_recorded", "a", "B_1"),
      fc.constant(newSessionId()),
    );
    const data = fc
      .dictionary(
        fc.array(segment, { minLength: 1, maxLength: 3 }).map((s) => s.join(".")),
        value,
        {
          minKeys: 1,
          maxKeys: 6,
        },
      )
      .filter((d) => {
        // The library refuses a field set twice (`a` and `a.b`): not a case to compare.
        const keys = Object.keys(d);
        return !keys.some((a) => keys.some((b) => a !== b && b.startsWith(`${a}.`)));
      });
    fc.assert(
      fc.property(data, (d) => expectSameAsLibrary(d)),
      { numRuns: 300 },
    );
  });

  it("refuses what it does not encode, loudly", () => {
    const refused: Array<Record<string, unknown>> = [
      { x: 1.5 },
      { x: -0 },
      { x: Number.NaN },
      { x: 2 ** 53 },
      { x: true },
      { x: undefined },
      { x: new Date() },
      { x: [1] },
      { x: Buffer.from("a") },
      { x: FieldValue.serverTimestamp() },
      { x: FieldValue.increment(1) },
      { x: { nested: 1.5 } },
      { "has space": 1 },
      { "a.__id7__": 1 },
      { "a..b": 1 },
      { "": 1 },
      { a: 1, "a.b": 2 },
      {},
    ];
    for (const data of refused) {
      expect(() => encodeWrite({ name: NAME, data, lastUpdateTime: at })).toThrow();
    }
  });
});

describe("encodeBatchWriteRequest", () => {
  it("is a gRPC message the library's BatchWriteRequest reads as the database and the writes", () => {
    const writes = [
      { durable_position: 1, updated_at: at },
      { final_intent: null, updated_at: at },
    ].map((data) => encodeWrite({ name: NAME, data, lastUpdateTime: at }));
    const whole = Buffer.concat(encodeBatchWriteRequest(DATABASE, writes));
    expect(whole[0]).toBe(0);
    expect(whole.readUInt32BE(1)).toBe(whole.length - 5);
    const request = plain(BatchWriteRequest, whole.subarray(5));
    expect(request.database).toBe(DATABASE);
    expect(request.writes).toEqual(writes.map((write) => plain(Write, write)));
  });
});

describe("decodeBatchWriteResponse", () => {
  const encoded = (response: object): Buffer => encodeAs(BatchWriteResponse, response);

  it("reads each write's update time or status, in order", () => {
    const body = encoded({
      writeResults: [{ updateTime: { seconds: 1_765_000_000, nanos: 999_999_999 } }, {}, { updateTime: {} }],
      status: [{}, { code: 9, message: "the stored update time is later, é" }, { code: 0 }],
    });
    const outcomes = decodeBatchWriteResponse(body, 3);
    expect(outcomes[0]).toEqual({ ok: true, updateTime: new Timestamp(1_765_000_000, 999_999_999) });
    expect(outcomes[1]).toEqual({ ok: false, code: 9, message: "the stored update time is later, é" });
    expect(outcomes[2]).toEqual({ ok: true, updateTime: new Timestamp(0, 0) });
  });

  it("throws on a response that does not answer every write, or is cut short", () => {
    const body = encoded({ writeResults: [{ updateTime: { seconds: 5 } }], status: [{}] });
    expect(() => decodeBatchWriteResponse(body, 2)).toThrow(/1 results and 1 statuses for 2 writes/);
    expect(() => decodeBatchWriteResponse(encoded({ writeResults: [{}], status: [{}] }), 1)).toThrow(
      /without an update time/,
    );
    for (let end = 1; end < body.length; end += 1) {
      expect(() => decodeBatchWriteResponse(body.subarray(0, end), 1)).toThrow();
    }
  });
});
