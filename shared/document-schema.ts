/**
 * How a Firestore document's schema is declared and read: the zod schema is the one home of
 * a document's shape, its type is derived from it (`DocumentOf`), and a converter validates
 * on read. The documents themselves are declared by concern (conversation-record.ts,
 * stream-records.ts, person-record.ts) and gathered in firestore-schema.ts.
 */
import {
  type DocumentData,
  type DocumentReference,
  type FirestoreDataConverter,
  type QueryDocumentSnapshot,
  Timestamp,
} from "@google-cloud/firestore";
import { z } from "zod";
import { describeIssue } from "./schema-issues";

export const timestamp = z.instanceof(Timestamp);
export const count = z.number().int().min(0);

/**
 * A document's schema: its fields, and on read any other field kept, since one writer may
 * add fields another does not know yet.
 */
export function documentSchema<Shape extends z.ZodRawShape>(shape: Shape) {
  return z.object(shape).loose();
}

/** Drops an index signature, keeping the declared keys and their optionality. */
type KnownFields<T> = { [K in keyof T as string extends K ? never : K]: T[K] };

/**
 * The type of a document as read (and as writers build it): the schema's output without
 * the kept unknown fields, so a writer's misspelt field is a type error.
 */
export type DocumentOf<Schema extends z.ZodType> = KnownFields<z.output<Schema>>;

/** The fields a picked document schema validates: what a projection (`select`) reads, named once. */
export function fieldsOf(schema: z.ZodObject): string[] {
  return Object.keys(schema.shape);
}

/** A document that does not match its schema; the message names its path and the issue. */
export class InvalidDocumentError extends Error {
  override name = "InvalidDocumentError";
}

/** Parses one document's data, throwing `InvalidDocumentError` naming `path`. */
export function parseDocument<T>(schema: z.ZodType<T>, path: string, data: unknown): T {
  const parsed = schema.safeParse(data);
  if (!parsed.success) {
    throw new InvalidDocumentError(`${path} is malformed: ${describeIssue(parsed.error, "(document)")}`);
  }
  return parsed.data;
}

/**
 * Validates on read; writes pass through: writers build documents from the same derived
 * types (an optional field left undefined is not stored: gcp-clients.ts ignores undefined).
 */
export function converter<T>(schema: z.ZodType<T>): FirestoreDataConverter<T, DocumentData> {
  return {
    toFirestore: (data) => data as DocumentData,
    fromFirestore: (snapshot: QueryDocumentSnapshot) => parseDocument(schema, snapshot.ref.path, snapshot.data()),
  };
}

/** A document read through its converter, with the update time a conditional write is conditioned on. */
export interface DocumentRead<T> {
  readonly data: T;
  readonly updateTime: Timestamp;
}

/**
 * The one read of a single document: through its converter (typed and validated, or an
 * `InvalidDocumentError` naming it), undefined when it does not exist.
 */
export async function readDocument<T>(
  ref: DocumentReference,
  converter: FirestoreDataConverter<T, DocumentData>,
): Promise<DocumentRead<T> | undefined> {
  const snapshot = await ref.withConverter(converter).get();
  const data = snapshot.data();
  if (data === undefined || snapshot.updateTime === undefined) return undefined;
  return { data, updateTime: snapshot.updateTime };
}
