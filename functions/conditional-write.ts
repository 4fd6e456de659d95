/**
 * Read, decide, then write on the condition that nothing changed since the read (a
 * `lastUpdateTime` precondition, or `create` for a document that was absent); a lost race
 * reads again. The workers use this instead of read-then-write transactions for documents
 * that concurrent runs of one message write (a duplicate delivery, two generations): such
 * transactions deadlock on their read locks until the database gives one up, and a
 * conditional write holds no lock.
 */
import { GrpcStatus, hasGrpcStatus } from "../shared/grpc-error";

/** Rounds of read and conditional write before giving up (the message is then redelivered). */
const MAX_ROUNDS = 20;

/** Another writer changed (or created) the document between this round's read and its write. */
function lostRace(error: unknown): boolean {
  return hasGrpcStatus(error, GrpcStatus.FAILED_PRECONDITION) || hasGrpcStatus(error, GrpcStatus.ALREADY_EXISTS);
}

/**
 * Runs `round` (one read, decision and conditional write) until one does not lose the race
 * and returns its result. `what` names the document in the error after the last round.
 */
export async function untilUnchanged<T>(what: string, round: () => Promise<T>): Promise<T> {
  for (let attempt = 0; attempt < MAX_ROUNDS; attempt += 1) {
    try {
      return await round();
    } catch (error) {
      if (!lostRace(error)) throw error;
    }
  }
  throw new Error(`${what} kept changing while it was written (${MAX_ROUNDS} rounds)`);
}
