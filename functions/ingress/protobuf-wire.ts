/**
 * The few protobuf wire-format primitives the hand-written gRPC requests share
 * (publish-wire.ts, firestore-wire.ts): varints, length-delimited fields, and reading a
 * message's fields back.
 */

/** Wire types (the low 3 bits of a tag). */
export const VARINT = 0;
export const LENGTH_DELIMITED = 2;

export function varintSize(value: number): number {
  let size = 1;
  for (let rest = value; rest >= 0x80; rest = Math.floor(rest / 0x80)) size += 1;
  return size;
}

export function writeVarint(target: Buffer, at: number, value: number): number {
  let offset = at;
  let rest = value;
  while (rest >= 0x80) {
    target[offset++] = (rest % 0x80) | 0x80;
    rest = Math.floor(rest / 0x80);
  }
  target[offset++] = rest;
  return offset;
}

/** `message` names the message in the error of a truncated one. */
export function readVarint(source: Buffer, at: number, message: string): [value: number, next: number] {
  let value = 0;
  let scale = 1;
  let offset = at;
  for (;;) {
    const byte = source[offset++];
    if (byte === undefined) throw new Error(`${message} ends inside a varint`);
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return [value, offset];
    scale *= 0x80;
  }
}

/** One field of a message as read: a varint's value, or a length-delimited field's bytes. */
export type ReadField =
  | { readonly number: number; readonly wireType: typeof VARINT; readonly value: number }
  | { readonly number: number; readonly wireType: typeof LENGTH_DELIMITED; readonly bytes: Buffer };

/**
 * The fields of `body` in order. Only the two wire types our responses use are read; any
 * other throws rather than being skipped by a guess at its length.
 */
export function* readFields(body: Buffer, message: string): Generator<ReadField> {
  let at = 0;
  while (at < body.length) {
    const [tag, afterTag] = readVarint(body, at, message);
    const number = Math.floor(tag / 8);
    const wireType = tag & 0x07;
    const [value, next] = readVarint(body, afterTag, message);
    if (wireType === VARINT) {
      yield { number, wireType, value };
      at = next;
    } else if (wireType === LENGTH_DELIMITED) {
      if (next + value > body.length) throw new Error(`${message} ends inside a field`);
      yield { number, wireType, bytes: body.subarray(next, next + value) };
      at = next + value;
    } else {
      throw new Error(`${message} has a field of wire type ${wireType}`);
    }
  }
}

/** A length-delimited field's bytes; throws (naming `message`) for a field of another wire type. */
export function lengthDelimited(field: ReadField, message: string): Buffer {
  if (field.wireType !== LENGTH_DELIMITED) throw new Error(`${message}: field ${field.number} is not length-delimited`);
  return field.bytes;
}

/** The gRPC message prefix (not compressed, then the length) in front of `body`'s parts. */
export function grpcPrefix(length: number): Buffer {
  const prefix = Buffer.allocUnsafe(5);
  prefix[0] = 0;
  prefix.writeUInt32BE(length, 1);
  return prefix;
}
