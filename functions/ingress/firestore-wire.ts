/**
 * Firestore's `BatchWrite` request and response on the wire, written by hand for the
 * ingress's conditional updates (batch-write-rpc.ts). Each write is what the client
 * library's `DocumentReference.update(data, {lastUpdateTime})` sends (its write-batch.js):
 * the fields as a Document whose nested maps follow the dotted paths, the paths as the
 * update mask (sorted, quoted where a segment is not a plain identifier), and the update
 * time as the only precondition. Only the value types these updates use are encoded
 * (integers, strings, null, Timestamps, maps); anything else throws, so that a new field
 * cannot be written as something the library would not have written.
 *
 * google.firestore.v1.BatchWriteRequest { string database = 1; repeated Write writes = 2; }
 * Write { Document update = 1; DocumentMask update_mask = 3; Precondition current_document = 4; }
 * Document { string name = 1; map<string, Value> fields = 2; }
 * DocumentMask { repeated string field_paths = 1; }
 * Precondition { oneof { bool exists = 1; Timestamp update_time = 2; } }
 * Value { oneof { int64 integer_value = 2; MapValue map_value = 6; Timestamp timestamp_value = 10;
 *   NullValue null_value = 11; string string_value = 17; } }   MapValue { map<string, Value> fields = 1; }
 * BatchWriteResponse { repeated WriteResult write_results = 1; repeated google.rpc.Status status = 2; }
 * WriteResult { Timestamp update_time = 1; }   google.rpc.Status { int32 code = 1; string message = 2; }
 */
import { Timestamp } from "@google-cloud/firestore";
import {
  grpcPrefix,
  LENGTH_DELIMITED,
  lengthDelimited,
  type ReadField,
  readFields,
  VARINT,
  writeVarint,
} from "./protobuf-wire";

/** A field name segment written as it is; any other is quoted (the library's UNESCAPED_FIELD_NAME_RE). */
const PLAIN_SEGMENT = /^[_a-zA-Z][_a-zA-Z0-9]*$/;
/**
 * The segments accepted at all: identifiers and session ids (ids.ts: `s` and base64url).
 * Segments like `__id7__` sort apart in the library's mask, and `__…__` names are reserved.
 */
const ACCEPTED_SEGMENT = /^[A-Za-z0-9_-]+$/;

/** A growing buffer of protobuf fields. */
class Writer {
  private buffer = Buffer.allocUnsafe(128);
  private length = 0;

  private room(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + bytes));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }

  /** A non-negative safe integer as a varint. */
  varint(value: number): this {
    this.room(10);
    this.length = writeVarint(this.buffer, this.length, value);
    return this;
  }

  /** An int64 (negative ones as 10-byte two's complement, as protobuf writes them). */
  int64(value: number): this {
    if (value >= 0) return this.varint(value);
    this.room(10);
    let rest = BigInt.asUintN(64, BigInt(value));
    while (rest >= 0x80n) {
      this.buffer[this.length++] = Number(rest & 0x7fn) | 0x80;
      rest >>= 7n;
    }
    this.buffer[this.length++] = Number(rest);
    return this;
  }

  tag(field: number, wireType: number): this {
    return this.varint(field * 8 + wireType);
  }

  /** Bytes already encoded (fields of the same message). */
  raw(bytes: Buffer): this {
    this.room(bytes.length);
    this.length += bytes.copy(this.buffer, this.length);
    return this;
  }

  bytes(field: number, bytes: Buffer): this {
    return this.tag(field, LENGTH_DELIMITED).varint(bytes.length).raw(bytes);
  }

  string(field: number, value: string): this {
    return this.bytes(field, Buffer.from(value, "utf8"));
  }

  message(field: number, message: Writer): this {
    return this.bytes(field, message.finish());
  }

  finish(): Buffer {
    return this.buffer.subarray(0, this.length);
  }
}

/** A Timestamp message: zero seconds or nanos left out, as the library's `Timestamp.toProto`. */
function timestamp(time: Timestamp): Writer {
  const out = new Writer();
  if (time.seconds !== 0) out.tag(1, VARINT).int64(time.seconds);
  if (time.nanoseconds !== 0) out.tag(2, VARINT).varint(time.nanoseconds);
  return out;
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}

/** A Value message, as the library's serializer encodes `value`; throws for a type not supported here. */
function encodeValue(value: unknown, path: string): Writer {
  const out = new Writer();
  if (typeof value === "string") return out.string(17, value);
  if (typeof value === "number") {
    // A safe integer other than -0 is an integer_value; the library would write anything else as a double.
    if (!Number.isSafeInteger(value) || Object.is(value, -0)) {
      throw new Error(`${path}: ${value} is not an integer (doubles are not encoded here)`);
    }
    return out.tag(2, VARINT).int64(value);
  }
  if (value === null) return out.tag(11, VARINT).varint(0);
  if (value instanceof Timestamp) return out.message(10, timestamp(value));
  if (typeof value === "object" && isPlainObject(value)) return out.message(6, mapFields(value, path));
  throw new Error(`${path}: a value of type ${typeof value} (${String(value)}) is not encoded here`);
}

/** The `map<string, Value>` entries of a plain object, in its key order (field 1 of MapValue, or Document's 2). */
function mapFields(object: Record<string, unknown>, path: string, field = 1): Writer {
  const out = new Writer();
  for (const key of Object.keys(object)) {
    if (object[key] === undefined) throw new Error(`${path}.${key} is undefined`);
    out.message(field, new Writer().string(1, key).message(2, encodeValue(object[key], `${path}.${key}`)));
  }
  return out;
}

/** `data`'s keys split into segments, checked; throws for a path the library would refuse or quote oddly. */
function fieldPaths(data: Readonly<Record<string, unknown>>): string[][] {
  const paths = Object.keys(data).map((key) => {
    const segments = key.split(".");
    if (!segments.every((segment) => ACCEPTED_SEGMENT.test(segment) && !segment.startsWith("__"))) {
      throw new Error(`field path ${JSON.stringify(key)} is not encoded here`);
    }
    if (data[key] === undefined) throw new Error(`${key} is undefined`);
    return segments;
  });
  if (paths.length === 0) throw new Error("an update with no fields");
  for (const a of paths) {
    for (const b of paths) {
      if (a !== b && a.length <= b.length && a.every((segment, i) => segment === b[i])) {
        throw new Error(`field ${a.join(".")} is set twice (also by ${b.join(".")})`);
      }
    }
  }
  return paths;
}

/** The dotted paths as nested objects (the library's `DocumentSnapshot.fromUpdateMap`). */
function nest(data: Readonly<Record<string, unknown>>, paths: readonly string[][]): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  Object.keys(data).forEach((key, i) => {
    const segments = paths[i] as string[];
    let target = root;
    for (const segment of segments.slice(0, -1)) {
      target[segment] ??= {};
      target = target[segment] as Record<string, unknown>;
    }
    target[segments[segments.length - 1] as string] = data[key];
  });
  return root;
}

/** A mask entry: each segment as it is, or in backticks with `\` and `` ` `` escaped. */
function formatPath(segments: readonly string[]): string {
  return segments
    .map((segment) =>
      PLAIN_SEGMENT.test(segment) ? segment : `\`${segment.replace(/\\/g, "\\\\").replace(/`/g, "\\`")}\``,
    )
    .join(".");
}

/** Segment by segment (the accepted segments are ASCII: UTF-16 order is UTF-8 order). */
function comparePaths(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i += 1) {
    const x = a[i] as string;
    const y = b[i] as string;
    if (x !== y) return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

/** One write: `update(data, {lastUpdateTime})` of the document `name` (`projects/…/documents/…`). */
export interface WireUpdate {
  readonly name: string;
  readonly data: Readonly<Record<string, unknown>>;
  readonly lastUpdateTime: Timestamp;
}

/** The Write message of one update; throws for anything not encoded here. */
export function encodeWrite(update: WireUpdate): Buffer {
  const paths = fieldPaths(update.data);
  const document = new Writer()
    .string(1, update.name)
    .raw(mapFields(nest(update.data, paths), update.name, 2).finish());
  const mask = new Writer();
  for (const path of [...paths].sort(comparePaths)) mask.string(1, formatPath(path));
  return new Writer()
    .message(1, document)
    .message(3, mask)
    .message(4, new Writer().message(2, timestamp(update.lastUpdateTime)))
    .finish();
}

/** The gRPC message (prefix, then the BatchWriteRequest) of already encoded writes, as buffers to write in order. */
export function encodeBatchWriteRequest(database: string, writes: readonly Buffer[]): Buffer[] {
  const head = new Writer().string(1, database);
  for (const write of writes) head.tag(2, LENGTH_DELIMITED).varint(write.length).raw(write);
  const body = head.finish();
  return [grpcPrefix(body.length), body];
}

/** One write's outcome: its update time, or its status. */
export type WriteOutcome =
  | { readonly ok: true; readonly updateTime: Timestamp }
  | { readonly ok: false; readonly code: number; readonly message: string };

const RESPONSE = "BatchWriteResponse";

function varintOf(field: ReadField): number {
  if (field.wireType !== VARINT) throw new Error(`${RESPONSE}: field ${field.number} is not a varint`);
  if (!Number.isSafeInteger(field.value)) throw new Error(`${RESPONSE}: field ${field.number} is out of range`);
  return field.value;
}

function decodeTimestamp(body: Buffer): Timestamp {
  let seconds = 0;
  let nanos = 0;
  for (const field of readFields(body, RESPONSE)) {
    if (field.number === 1) seconds = varintOf(field);
    else if (field.number === 2) nanos = varintOf(field);
  }
  return new Timestamp(seconds, nanos);
}

/** The update time of a WriteResult, if it has one. */
function decodeWriteResult(body: Buffer): Timestamp | undefined {
  let updateTime: Timestamp | undefined;
  for (const field of readFields(body, RESPONSE)) {
    if (field.number === 1) updateTime = decodeTimestamp(lengthDelimited(field, RESPONSE));
  }
  return updateTime;
}

function decodeStatus(body: Buffer): { code: number; message: string } {
  let code = 0;
  let message = "";
  for (const field of readFields(body, RESPONSE)) {
    if (field.number === 1) code = varintOf(field);
    else if (field.number === 2) message = lengthDelimited(field, RESPONSE).toString("utf8");
  }
  return { code, message };
}

/**
 * Each write's outcome, in the request's order (the gRPC prefix already removed). Throws
 * when the response does not answer exactly `count` writes, or an update has no time.
 */
export function decodeBatchWriteResponse(body: Buffer, count: number): WriteOutcome[] {
  const times: Array<Timestamp | undefined> = [];
  const statuses: Array<{ code: number; message: string }> = [];
  for (const field of readFields(body, RESPONSE)) {
    if (field.number === 1) times.push(decodeWriteResult(lengthDelimited(field, RESPONSE)));
    else if (field.number === 2) statuses.push(decodeStatus(lengthDelimited(field, RESPONSE)));
  }
  if (times.length !== count || statuses.length !== count) {
    throw new Error(`${RESPONSE}: ${times.length} results and ${statuses.length} statuses for ${count} writes`);
  }
  return statuses.map((status, i): WriteOutcome => {
    if (status.code !== 0) return { ok: false, ...status };
    const updateTime = times[i];
    if (updateTime === undefined) throw new Error(`${RESPONSE}: write ${i} succeeded without an update time`);
    return { ok: true, updateTime };
  });
}
