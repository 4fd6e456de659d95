/**
 * The gRPC status of an error the Google Cloud clients (Firestore, Pub/Sub) throw, named by
 * the client library's own enum, so no code compares against bare numbers.
 */
import { GrpcStatus } from "@google-cloud/firestore";

export { GrpcStatus };

/** True when `error` carries the gRPC status `status` (e.g. ALREADY_EXISTS on a `create`). */
export function hasGrpcStatus(error: unknown, status: GrpcStatus): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === status;
}
