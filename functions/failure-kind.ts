/**
 * Is a failure worth retrying? A worker that fails on a message either throws (Pub/Sub
 * redelivers it) or, when the same input would fail the same way on every delivery,
 * dead-letters it at once with the reason. This module decides which, from the error
 * alone. Pure: no I/O, no clock.
 *
 * - permanent: the store refused this input and will refuse it again. gRPC
 *   INVALID_ARGUMENT and OUT_OF_RANGE (a reserved document id, a value too large, a bad
 *   path); FAILED_PRECONDITION unless it is about a missing index or a document's version
 *   (see below); an HTTP 400 / 411 / 413 / 414 from Cloud Storage; the Firestore client's
 *   own argument checks, which refuse before anything is sent; zod's `ZodError` (a
 *   document that can never parse); and `PermanentFailure`, which code throws to say so.
 * - transient: everything else, unknown errors included. UNAVAILABLE, DEADLINE_EXCEEDED,
 *   ABORTED, RESOURCE_EXHAUSTED, INTERNAL, UNKNOWN, CANCELLED, network errors (ECONNRESET,
 *   ECONNREFUSED, ETIMEDOUT, socket hang-ups), HTTP 408 / 429 / 5xx: a retry can succeed,
 *   and a fault that lasts is an outage to fix, after which the retried messages go
 *   through. PERMISSION_DENIED, UNAUTHENTICATED and NOT_FOUND are transient too: a missing
 *   grant or a document that a concurrent, out-of-order delivery has not created yet is
 *   not a property of the message.
 *
 * INVALID_ARGUMENT is permanent except about a transaction: Firestore answers a request
 * in a transaction it has closed or expired (e.g. after the connection dropped mid-
 * transaction) with "Transaction is invalid or closed" / "transaction has expired"; that
 * is the attempt's state, not the input's, and a fresh transaction succeeds.
 *
 * FAILED_PRECONDITION is permanent except where Firestore uses it for a state that
 * changes: "the query requires an index" (deploying the index fixes it) and a conditional
 * write whose document changed or does not exist yet (a fresh read and a retry succeed).
 *
 * Errors are read through their `cause` chain: a wrapper around a store error is
 * classified as the store error.
 */
import { GrpcStatus } from "@google-cloud/firestore";
import { ZodError } from "zod";

export type FailureKind = "transient" | "permanent";

/** Thrown by code that knows a failure is deterministic (the same input fails again). */
export class PermanentFailure extends Error {
  override name = "PermanentFailure";
}

const PERMANENT_GRPC: ReadonlySet<number> = new Set([GrpcStatus.INVALID_ARGUMENT, GrpcStatus.OUT_OF_RANGE]);

/** Cloud Storage (JSON API) answers that repeat for the same request. */
const PERMANENT_HTTP: ReadonlySet<number> = new Set([400, 411, 413, 414]);

/** FAILED_PRECONDITION messages that describe a state that changes (see the header). */
const CHANGING_PRECONDITION = /index|update time|updateTime|version|no document to update|not found|contention/i;

/** INVALID_ARGUMENT messages about a closed or expired transaction (see the header). */
const STALE_TRANSACTION = /transaction (is invalid|is closed|has expired|.*no longer valid)/i;

/**
 * The Firestore client validates arguments before it sends anything and throws a plain
 * Error whose message names the argument: `Value for argument "documentPath" ...` (a path
 * with '/' or an empty id), `Value for argument "data" is not a valid Firestore document.
 * Cannot use "undefined" ...`, `Element at index 0 ...`, `Cannot encode value: ...`.
 */
const FIRESTORE_CLIENT_ARGUMENT = /^(Value for argument "|Element at index \d+ |Cannot encode value)/;

/** Node's and the HTTP clients' network error codes (for the reason line; unknown is transient anyway). */
const NETWORK_CODES: ReadonlySet<string> = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ERR_STREAM_PREMATURE_CLOSE",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
]);

export interface FailureClassification {
  readonly kind: FailureKind;
  /** A short reason for the log line and the dead letter, e.g. `grpc INVALID_ARGUMENT`. */
  readonly reason: string;
}

interface ErrorLike {
  readonly code?: unknown;
  readonly message?: unknown;
  readonly cause?: unknown;
}

function grpcName(code: number): string {
  return GrpcStatus[code] ?? `code ${code}`;
}

/** One error, without its causes: a classification, or undefined when it says nothing. */
function classifyOne(error: unknown): FailureClassification | undefined {
  if (error instanceof PermanentFailure) return { kind: "permanent", reason: error.message };
  if (error instanceof ZodError) return { kind: "permanent", reason: "malformed data" };
  if (typeof error !== "object" || error === null) return undefined;
  const { code, message } = error as ErrorLike;
  const text = typeof message === "string" ? message : "";
  if (typeof code === "number" && Number.isInteger(code)) {
    // gRPC status codes are 0..16; HTTP statuses (Cloud Storage's ApiError) start at 100.
    if (code >= GrpcStatus.OK && code <= GrpcStatus.UNAUTHENTICATED) {
      if (code === GrpcStatus.INVALID_ARGUMENT && STALE_TRANSACTION.test(text))
        return { kind: "transient", reason: "grpc INVALID_ARGUMENT (a closed or expired transaction)" };
      if (PERMANENT_GRPC.has(code)) return { kind: "permanent", reason: `grpc ${grpcName(code)}` };
      if (code === GrpcStatus.FAILED_PRECONDITION) {
        return CHANGING_PRECONDITION.test(text)
          ? { kind: "transient", reason: "grpc FAILED_PRECONDITION (a state that changes)" }
          : { kind: "permanent", reason: "grpc FAILED_PRECONDITION" };
      }
      return { kind: "transient", reason: `grpc ${grpcName(code)}` };
    }
    if (code >= 100 && code <= 599) {
      return PERMANENT_HTTP.has(code)
        ? { kind: "permanent", reason: `http ${code}` }
        : { kind: "transient", reason: `http ${code}` };
    }
  }
  if (typeof code === "string" && NETWORK_CODES.has(code)) return { kind: "transient", reason: `network ${code}` };
  if (FIRESTORE_CLIENT_ARGUMENT.test(text)) return { kind: "permanent", reason: "refused by the Firestore client" };
  return undefined;
}

/** How `error` should be handled, with a reason. Follows `cause` (at most 8 deep). Pure. */
export function describeFailure(error: unknown): FailureClassification {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current !== undefined && current !== null; depth += 1) {
    const found = classifyOne(current);
    if (found !== undefined) return found;
    current = (current as ErrorLike).cause;
  }
  return { kind: "transient", reason: "unknown error" };
}

/** `transient` (retry: redeliver) or `permanent` (dead-letter now, with the reason). Pure. */
export function classifyFailure(error: unknown): FailureKind {
  return describeFailure(error).kind;
}
