/**
 * The Firestore client library's own protobuf definitions, loaded as its gRPC calls load them
 * (protobufjs from its JSON), to check what the ingress encodes by hand against them.
 */
import { createRequire } from "node:module";
import type { Type } from "protobufjs";

const firestoreRequire = createRequire(require.resolve("@google-cloud/firestore"));
const { Root } = firestoreRequire("protobufjs") as typeof import("protobufjs");
const root = Root.fromJSON(firestoreRequire("../protos/v1.json"));

/** `google.firestore.v1.<name>`. */
export function firestoreType(name: string): Type {
  return root.lookupType(`google.firestore.v1.${name}`);
}

/** A message as the library's gRPC encodes it from a plain object. */
export function encodeAs(type: Type, message: object): Buffer {
  return Buffer.from(type.encode(type.fromObject(message)).finish());
}
