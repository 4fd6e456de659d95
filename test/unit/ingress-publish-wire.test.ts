/**
 * The hand-written Publish request and response (functions/ingress/publish-wire.ts) against
 * the protobuf definitions the client library ships: what we encode, Pub/Sub's own decoder
 * reads back as the same topic, data and attributes.
 */
import crypto from "node:crypto";
import fc from "fast-check";
import { decodePublishResponse, encodePublishRequest, type WireMessage } from "../../functions/ingress/publish-wire";

// The client library's generated protobuf module (protobufjs static code), as its own gRPC calls use it.
const { google } = require("@google-cloud/pubsub/build/protos/protos.js") as {
  google: typeof import("@google-cloud/pubsub/build/protos/protos").google;
};
const { PublishRequest, PublishResponse } = google.pubsub.v1;

const TOPIC = "projects/p-wire/topics/audio-t";

interface Decoded {
  readonly topic: string;
  readonly messages: Array<{ data: Buffer; attributes: Record<string, string> }>;
  readonly parts: Buffer[];
}

/** Encodes, checks the gRPC prefix, and decodes the rest with the library's PublishRequest. */
function roundTrip(topic: string, messages: readonly WireMessage[]): Decoded {
  const parts = encodePublishRequest(topic, messages);
  const whole = Buffer.concat(parts);
  expect(whole[0]).toBe(0); // not compressed
  expect(whole.readUInt32BE(1)).toBe(whole.length - 5);
  const request = PublishRequest.decode(whole.subarray(5));
  return {
    topic: request.topic,
    messages: request.messages.map((message) => ({
      data: Buffer.from(message.data as Uint8Array),
      attributes: { ...(message.attributes ?? {}) },
    })),
    parts,
  };
}

function expectSame(decoded: Decoded, topic: string, messages: readonly WireMessage[]): void {
  expect(decoded.topic).toBe(topic);
  expect(decoded.messages).toHaveLength(messages.length);
  messages.forEach((message, i) => {
    const got = decoded.messages[i];
    expect(got?.data.equals(message.data)).toBe(true);
    expect(got?.attributes).toEqual(message.attributes);
  });
}

const chunkAttributes = { conversation_id: "c-1", chunk_index: "7", final: "false" };

describe("encodePublishRequest", () => {
  it("encodes one message as the library's PublishRequest reads it", () => {
    const messages = [{ data: crypto.randomBytes(3200), attributes: chunkAttributes }];
    expectSame(roundTrip(TOPIC, messages), TOPIC, messages);
  });

  it("encodes several messages in order, each with its own attributes", () => {
    const messages = [0, 1, 2, 3].map((i) => ({
      data: crypto.randomBytes(100 + i * 37),
      attributes: { ...chunkAttributes, chunk_index: String(i) },
    }));
    expectSame(roundTrip(TOPIC, messages), TOPIC, messages);
  });

  it("encodes empty attributes and an empty request", () => {
    const messages: WireMessage[] = [
      { data: Buffer.from("a"), attributes: {} },
      { data: Buffer.from("b"), attributes: { only: "" } },
      { data: Buffer.from("c"), attributes: {} },
    ];
    expectSame(roundTrip(TOPIC, messages), TOPIC, messages);
    expectSame(roundTrip(TOPIC, []), TOPIC, []);
  });

  it("encodes non-ASCII keys and values by their UTF-8 bytes", () => {
    const messages = [
      { data: Buffer.from([0, 255, 1]), attributes: { "clé-é": "voilà 😀", 名前: "値\u0000末", plain: "x" } },
    ];
    expectSame(roundTrip("projects/p/topics/tópico-😀", messages), "projects/p/topics/tópico-😀", messages);
  });

  it("encodes data whose length takes a 3- and a 4-byte varint", () => {
    const threeBytes = crypto.randomBytes(200 * 1024); // >= 2^14
    const fourBytes = crypto.randomBytes(3 * 1024 * 1024); // >= 2^21
    const messages = [
      { data: threeBytes, attributes: chunkAttributes },
      { data: fourBytes, attributes: { ...chunkAttributes, final: "true" } },
    ];
    expectSame(roundTrip(TOPIC, messages), TOPIC, messages);
  });

  it("puts each data buffer in the request as the very object given, views included", () => {
    const pool = crypto.randomBytes(10_000);
    // Views into one pool, at offsets other than 0, as reused chunk buffers are.
    const messages = [
      { data: pool.subarray(100, 4100), attributes: chunkAttributes },
      { data: pool.subarray(5000, 9000), attributes: {} },
    ];
    const { parts } = roundTrip(TOPIC, messages);
    for (const message of messages) expect(parts.filter((part) => part === message.data)).toHaveLength(1);
    // Nothing else in the request is as big as a chunk: the data was not copied elsewhere.
    const others = parts.filter((part) => !messages.some((message) => message.data === part));
    expect(Math.max(...others.map((part) => part.length))).toBeLessThan(200);
  });

  it("round-trips random attribute maps and data sizes", () => {
    const message = fc.record({
      size: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 16_000, max: 70_000 })),
      attributes: fc.dictionary(fc.string({ unit: "grapheme", maxLength: 20 }), fc.string({ unit: "grapheme" }), {
        maxKeys: 8,
      }),
    });
    fc.assert(
      fc.property(
        fc.string({ unit: "grapheme", maxLength: 200 }),
        fc.array(message, { maxLength: 6 }),
        (topic, specs) => {
          const messages = specs.map((spec) => ({ data: crypto.randomBytes(spec.size), attributes: spec.attributes }));
          expectSame(roundTrip(topic, messages), topic, messages);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("decodePublishResponse", () => {
  it("reads the message ids of the library's PublishResponse", () => {
    const ids = ["1", "17234567890123456", "id-ü-😀", "x".repeat(300)];
    expect(decodePublishResponse(Buffer.from(PublishResponse.encode({ messageIds: ids }).finish()))).toEqual(ids);
    expect(decodePublishResponse(Buffer.from(PublishResponse.encode({ messageIds: [] }).finish()))).toEqual([]);
  });

  it("throws on a truncated response", () => {
    const whole = Buffer.from(PublishResponse.encode({ messageIds: ["123456", "x".repeat(300)] }).finish());
    // Cut inside the first id, inside the second's length varint, and inside its bytes.
    for (const end of [4, 10, whole.length - 1]) {
      expect(() => decodePublishResponse(whole.subarray(0, end))).toThrow(/PublishResponse ends inside/);
    }
  });
});
