/**
 * Pub/Sub's `Publish` request and response on the wire (protobuf inside a gRPC message),
 * written by hand so that a chunk's bytes go into the request as the buffer they are in:
 * the request is a list of buffers, and each message's `data` is one of them, not a copy.
 *
 * google.pubsub.v1.PublishRequest { string topic = 1; repeated PubsubMessage messages = 2; }
 * google.pubsub.v1.PubsubMessage { bytes data = 1; map<string, string> attributes = 2; }
 * google.pubsub.v1.PublishResponse { repeated string message_ids = 1; }
 */

import { lengthDelimited, readFields, varintSize, writeVarint } from "./protobuf-wire";

export interface WireMessage {
  readonly data: Buffer;
  readonly attributes: Readonly<Record<string, string>>;
}

/** Field 1 and 2 as length-delimited (wire type 2): (number << 3) | 2. */
const FIELD_1 = 0x0a;
const FIELD_2 = 0x12;

/** A length-delimited field's size with its tag and length. */
function fieldSize(length: number): number {
  return 1 + varintSize(length) + length;
}

function writeHeader(target: Buffer, at: number, tag: number, length: number): number {
  target[at] = tag;
  return writeVarint(target, at + 1, length);
}

function writeString(target: Buffer, at: number, tag: number, value: string, bytes: number): number {
  const offset = writeHeader(target, at, tag, bytes);
  return offset + target.write(value, offset, "utf8");
}

/** A message's attributes map, encoded (field 2 of PubsubMessage, one entry per key). */
function encodeAttributes(attributes: Readonly<Record<string, string>>): Buffer {
  const keys = Object.keys(attributes);
  const sizes: number[] = [];
  let total = 0;
  for (const key of keys) {
    const keyBytes = Buffer.byteLength(key);
    const valueBytes = Buffer.byteLength(attributes[key] as string);
    const entry = fieldSize(keyBytes) + fieldSize(valueBytes);
    sizes.push(keyBytes, valueBytes, entry);
    total += fieldSize(entry);
  }
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  keys.forEach((key, i) => {
    at = writeHeader(out, at, FIELD_2, sizes[i * 3 + 2] as number);
    at = writeString(out, at, FIELD_1, key, sizes[i * 3] as number);
    at = writeString(out, at, FIELD_2, attributes[key] as string, sizes[i * 3 + 1] as number);
  });
  return out;
}

/**
 * The gRPC message (5-byte prefix, then the PublishRequest) as buffers to write in order.
 * Each message's data buffer is one of them, untouched: it must not change until the call
 * is over.
 */
export function encodePublishRequest(topic: string, messages: readonly WireMessage[]): Buffer[] {
  const topicBytes = Buffer.byteLength(topic);
  const attributes = messages.map((message) => encodeAttributes(message.attributes));
  const messageSizes = messages.map((message, i) => fieldSize(message.data.length) + (attributes[i] as Buffer).length);
  const requestSize = messageSizes.reduce((sum, size) => sum + fieldSize(size), fieldSize(topicBytes));

  const parts: Buffer[] = [];
  // Each small piece between two data buffers: the previous attributes, the next headers.
  let head = Buffer.allocUnsafe(5 + fieldSize(topicBytes) + 2 * 6);
  head[0] = 0;
  head.writeUInt32BE(requestSize, 1);
  let at = writeString(head, 5, FIELD_1, topic, topicBytes);
  messages.forEach((message, i) => {
    at = writeHeader(head, at, FIELD_2, messageSizes[i] as number);
    at = writeHeader(head, at, FIELD_1, message.data.length);
    parts.push(head.subarray(0, at), message.data);
    const own = attributes[i] as Buffer;
    head = Buffer.allocUnsafe(own.length + 2 * 6);
    at = own.copy(head, 0);
  });
  if (at > 0) parts.push(head.subarray(0, at));
  return parts;
}

/** The message ids of a PublishResponse (the gRPC prefix already removed). */
export function decodePublishResponse(body: Buffer): string[] {
  const ids: string[] = [];
  for (const field of readFields(body, "PublishResponse")) {
    const bytes = lengthDelimited(field, "PublishResponse");
    if (field.number === 1) ids.push(bytes.toString("utf8"));
  }
  return ids;
}
