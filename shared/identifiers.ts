/**
 * Identifiers: the one home of every id a client or a token hands the pipeline
 * (conversation, segment, person and session ids, and the token's `sub` user id), and of
 * the rules the stores behind the pipeline put on them. The ingress (query and messages),
 * the workers (message schemas) and the HTTP API (path parameters, the caller's `sub`) all
 * validate through the schemas below, so the edge can never accept an id that a worker
 * or the API would then fail on.
 *
 * Each id kind has two layers:
 * 1. Its contract pattern (PROTOCOL.md section 2 for conversation ids; this file for the
 *    rest), the alphabet and length a client may rely on.
 * 2. The rules of every store that holds it (`ID_PLACES`): Firestore document ids (valid
 *    UTF-8, at most 1,500 bytes, no '/', not '.' or '..', not matching `__.*__`), Cloud
 *    Storage object names (1 to 1,024 bytes of UTF-8, no CR or LF, not '.' or '..', not
 *    under `.well-known/acme-challenge/`), Pub/Sub attribute values (at most 1,024
 *    bytes) and ordering keys (at most 1,024 bytes), and indexed Firestore string values
 *    (valid UTF-8; only the first 1,500 bytes of a string can be queried for equality).
 *    A pattern that is later widened (say, to Unicode) still cannot let through an id a
 *    store refuses: the store rules are checked as well, whatever the pattern says.
 *
 * Decision: an id a store cannot hold verbatim is refused at the edge (4400 on a socket,
 * 400 from the API, with the field and the rule in the message); it is never mapped to
 * another key. Why:
 * - Within the contract's alphabets the only such ids are the ones Firestore reserves,
 *   `__…__` (ids of two underscores, anything, two underscores): a tiny, structural set
 *   that ids from UUIDs, ULIDs or counters never hit, and a client-side generator over
 *   the url-safe alphabet hits with odds of about 1 in 17 million. Refusing costs a client
 *   almost nothing, and the refusal is immediate and deterministic: the id is checked
 *   before anything that carries it is acknowledged, so nothing acked is ever lost.
 * - A reversible mapping would have to be applied by every reader and writer of every
 *   document and object path (the ingress, three workers, the API, list queries ordered
 *   by document id); one missed call site silently reads or writes another key, which is
 *   exactly the disagreement between edge and store this module exists to prevent.
 * - Verbatim keys keep the stores legible: the id a client sent is the document id an
 *   operator finds in the Firestore console and the prefix in the bucket.
 * The one id that cannot be fixed by the client that sent it is the token's `sub` (the
 * identity provider chose it); it is refused the same way (4400 / 400 naming `sub`):
 * re-authenticating would only return the same `sub`.
 */
import { z } from "zod";
import { conversationPrefix, personSampleObjectName, USER_KEY_LENGTH, type UserKey } from "./storage-paths";

const LONGEST_USER_KEY = "k".repeat(USER_KEY_LENGTH) as UserKey;

// ---------------------------------------------------------------- store rules (pure)

const utf8 = new TextEncoder();

export function utf8ByteLength(text: string): number {
  return utf8.encode(text).length;
}

/**
 * A lone UTF-16 surrogate cannot be encoded as UTF-8: Firestore answers UNKNOWN for such
 * a value (retried forever) and Pub/Sub never accepts the publish. With the `u` flag a
 * surrogate pair is one code point, so this matches lone surrogates only.
 */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

export function isWellFormedUnicode(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}

/** Firestore's reserved document ids. `[\s\S]` so that a line break inside cannot hide one. */
const FIRESTORE_RESERVED_ID = /^__[\s\S]*__$/;

export const FIRESTORE_MAX_ID_BYTES = 1500;
export const STORAGE_MAX_NAME_BYTES = 1024;
export const PUBSUB_MAX_ATTRIBUTE_VALUE_BYTES = 1024;
export const PUBSUB_MAX_ORDERING_KEY_BYTES = 1024;
/** Only the first 1,500 bytes of a string field take part in an equality query. */
export const FIRESTORE_MAX_INDEXED_STRING_BYTES = 1500;

/** Why Firestore would refuse `id` as a document id, or undefined if it holds it. Pure. */
export function firestoreDocumentIdProblem(id: string): string | undefined {
  if (id.length === 0) return "must not be empty (a Firestore document id)";
  if (!isWellFormedUnicode(id)) return "must be valid Unicode (Firestore document ids are UTF-8)";
  if (id.includes("/")) return "must not contain '/' (Firestore separates document path segments with it)";
  if (id === "." || id === "..") return "must not be '.' or '..' (Firestore reserves them as document ids)";
  if (FIRESTORE_RESERVED_ID.test(id))
    return "must not start and end with '__' (Firestore reserves document ids matching __.*__)";
  if (utf8ByteLength(id) > FIRESTORE_MAX_ID_BYTES)
    return `must be at most ${FIRESTORE_MAX_ID_BYTES} bytes of UTF-8 (a Firestore document id)`;
  return undefined;
}

/** Why Cloud Storage would refuse `name` as an object name, or undefined. Pure. */
export function storageObjectNameProblem(name: string): string | undefined {
  if (name.length === 0) return "must not be empty (a Cloud Storage object name)";
  if (!isWellFormedUnicode(name)) return "must be valid Unicode (Cloud Storage object names are UTF-8)";
  if (/[\r\n]/.test(name)) return "must not contain a line break (Cloud Storage object names cannot)";
  if (name === "." || name === "..") return "must not be '.' or '..' (Cloud Storage refuses them as object names)";
  if (name.startsWith(".well-known/acme-challenge/"))
    return "must not start with .well-known/acme-challenge/ (Cloud Storage reserves it)";
  if (utf8ByteLength(name) > STORAGE_MAX_NAME_BYTES)
    return `must make an object name of at most ${STORAGE_MAX_NAME_BYTES} bytes of UTF-8 (Cloud Storage)`;
  return undefined;
}

/**
 * Why `id` cannot be one segment of an object path such as `people/{id}/`: the object
 * name must be valid, and the id must stay one segment (no '/', not '.' or '..', which
 * tools resolve as path steps). `longestName` is the longest object name built on it.
 */
export function storagePathSegmentProblem(id: string, longestName: string): string | undefined {
  if (id.includes("/")) return "must not contain '/' (it is one segment of a Cloud Storage object path)";
  if (id === "." || id === "..") return "must not be '.' or '..' (it is one segment of a Cloud Storage object path)";
  return storageObjectNameProblem(longestName);
}

/** Why Pub/Sub would refuse `value` as an attribute value, or undefined. Pure. */
export function pubsubAttributeValueProblem(value: string): string | undefined {
  if (!isWellFormedUnicode(value)) return "must be valid Unicode (Pub/Sub attribute values are UTF-8)";
  if (utf8ByteLength(value) > PUBSUB_MAX_ATTRIBUTE_VALUE_BYTES)
    return `must be at most ${PUBSUB_MAX_ATTRIBUTE_VALUE_BYTES} bytes of UTF-8 (a Pub/Sub attribute value)`;
  return undefined;
}

/** Why Pub/Sub would refuse `key` as an ordering key, or undefined. Pure. */
export function pubsubOrderingKeyProblem(key: string): string | undefined {
  if (!isWellFormedUnicode(key)) return "must be valid Unicode (Pub/Sub ordering keys are UTF-8)";
  if (utf8ByteLength(key) > PUBSUB_MAX_ORDERING_KEY_BYTES)
    return `must be at most ${PUBSUB_MAX_ORDERING_KEY_BYTES} bytes of UTF-8 (a Pub/Sub ordering key)`;
  return undefined;
}

/** Why `value` cannot be an indexed Firestore string queried for equality, or undefined. Pure. */
export function firestoreIndexedStringProblem(value: string): string | undefined {
  if (!isWellFormedUnicode(value)) return "must be valid Unicode (Firestore strings are UTF-8)";
  if (utf8ByteLength(value) > FIRESTORE_MAX_INDEXED_STRING_BYTES)
    return `must be at most ${FIRESTORE_MAX_INDEXED_STRING_BYTES} bytes of UTF-8 (Firestore compares only that much in a query)`;
  return undefined;
}

// ---------------------------------------------------------------- id kinds

export const ID_KINDS = ["conversation_id", "segment_id", "person_id", "session_id", "user_id"] as const;
export type IdKind = (typeof ID_KINDS)[number];

/** Where an id of each kind is stored: every rule here must hold for it. */
export const ID_PLACES: Readonly<Record<IdKind, ReadonlyArray<(id: string) => string | undefined>>> = {
  // conversations/{id} (+ sub-collections), conversations/{id}/chunks/NNNNNNNN.opus,
  // the `conversation_id` attribute and the ordering key of every message.
  conversation_id: [
    firestoreDocumentIdProblem,
    (id) => storagePathSegmentProblem(id, `${conversationPrefix(id)}chunks/99999999.opus`),
    pubsubAttributeValueProblem,
    pubsubOrderingKeyProblem,
  ],
  // conversations/{c}/segments/{id} and conversations/{c}/speaker_assignments/{id}.
  segment_id: [firestoreDocumentIdProblem],
  // users/{key}/people/{id}, and people/{id}/{key}/samples/{sample_id}.wav (sample ids are
  // at most 128 bytes).
  person_id: [
    firestoreDocumentIdProblem,
    (id) => storagePathSegmentProblem(id, personSampleObjectName(id, LONGEST_USER_KEY, "x".repeat(128))),
  ],
  // conversations/{c}/sessions/{id}, and the `session_id` attribute.
  session_id: [firestoreDocumentIdProblem, pubsubAttributeValueProblem],
  // The `user_id` field (queried for equality) and the `user_id` attribute.
  user_id: [firestoreIndexedStringProblem, pubsubAttributeValueProblem],
};

/** The contract pattern of each kind, and the sentence that explains it. */
const PATTERNS: Readonly<Record<IdKind, { pattern: RegExp; message: string }>> = {
  conversation_id: {
    pattern: /^[A-Za-z0-9_-]{8,64}$/,
    message: "must be 8 to 64 characters of A-Z, a-z, 0-9, '_' or '-'",
  },
  segment_id: {
    pattern: /^[A-Za-z0-9_-][A-Za-z0-9_.:-]{0,127}$/,
    message: "must be 1 to 128 characters of A-Z, a-z, 0-9, '_', '-', '.' or ':', not starting with '.' or ':'",
  },
  person_id: {
    pattern: /^[A-Za-z0-9_-]{1,128}$/,
    message: "must be 1 to 128 characters of A-Z, a-z, 0-9, '_' or '-'",
  },
  session_id: {
    pattern: /^[A-Za-z0-9_-]{1,64}$/,
    message: "must be 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-'",
  },
  // Any text the identity provider chose (Firebase uids are at most 128 characters).
  user_id: {
    pattern: /^[\s\S]{1,128}$/u,
    message: "must be 1 to 128 characters",
  },
};

/**
 * Why `value` cannot be an id of `kind`: the contract pattern first, then every store
 * rule of the places the id goes. Undefined when it can. Pure.
 */
export function identifierProblem(kind: IdKind, value: string): string | undefined {
  const { pattern, message } = PATTERNS[kind];
  // A lone surrogate counts as one character for the pattern, so check it first.
  if (!isWellFormedUnicode(value)) return "must be valid Unicode (every store holds UTF-8)";
  if (!pattern.test(value)) return message;
  for (const problem of ID_PLACES[kind]) {
    const found = problem(value);
    if (found !== undefined) return found;
  }
  return undefined;
}

function identifierSchema(kind: IdKind) {
  return z.string().superRefine((value, ctx) => {
    const problem = identifierProblem(kind, value);
    if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem, input: value });
  });
}

/** PROTOCOL.md section 2: a conversation id (also every message's attribute and ordering key). */
export const conversationIdSchema = identifierSchema("conversation_id");

/** A transcript segment's id: a document id in the conversation's segments and assignments. */
export const segmentIdSchema = identifierSchema("segment_id");

/** A person's id: a document id in a user's `people` and a prefix in the bucket (`people/{person_id}/`). */
export const personIdSchema = identifierSchema("person_id");

/** A socket's session id (the ingress mints them): a document id and a message attribute. */
export const sessionIdSchema = identifierSchema("session_id");

/** The token's `sub`: stored on every conversation and carried by every client message. */
export const userIdSchema = identifierSchema("user_id");

/**
 * Free text the pipeline stores verbatim (a segment's `text` and `speaker`): any text every
 * store can hold, that is valid Unicode. JSON can spell a lone surrogate (`"\ud800"`),
 * which no UTF-8 store accepts: Firestore answers UNKNOWN and the write would be retried
 * forever, so such text is refused at the edge like an unstorable id.
 */
export const storedTextSchema = z.string().refine(isWellFormedUnicode, {
  message: "must be valid Unicode (a lone UTF-16 surrogate cannot be stored as UTF-8)",
});

/** Parses an id of `kind`, or says, naming `field`, which rule it breaks. Pure. */
export function parseIdentifier(
  kind: IdKind,
  field: string,
  value: string,
): { ok: true; value: string } | { ok: false; message: string } {
  const problem = identifierProblem(kind, value);
  return problem === undefined ? { ok: true, value } : { ok: false, message: `${field} ${problem}` };
}
