/**
 * The one conditional-write primitive of the ingress, the workers, the orphan sweeper and
 * the API: read, decide, then write on the condition that nothing changed since the read (a
 * `lastUpdateTime` precondition, or `create` for a document that was absent); a lost race
 * reads again. Used instead of read-then-write transactions for documents that concurrent
 * writers share (a duplicate delivery, two generations, a socket taking a conversation over):
 * such transactions deadlock on their read locks until the database gives one up, and a
 * conditional write holds no lock.
 */
import { GrpcStatus, hasGrpcStatus } from "../shared/grpc-error";

/**
 * Rounds of read and conditional write before giving up. A round loses only when another
 * write to the document landed between its read and its write, so the rounds needed are
 * bounded by the writers one document has at once (duplicate deliveries of one message,
 * two generations, a socket and the one taking it over, the sweeper, a delete): a handful.
 * 20 leaves room for those; past it something writes in a loop, and the caller fails (a
 * worker's message is redelivered, a socket hears an internal error) rather than spin.
 */
export const MAX_ROUNDS = 20;

/**
 * Another writer changed, created or removed the document between this round's read and
 * its write. (A removed one answers NOT_FOUND; the next round reads that it is gone.)
 */
export function lostRace(error: unknown): boolean {
  return (
    hasGrpcStatus(error, GrpcStatus.FAILED_PRECONDITION) ||
    hasGrpcStatus(error, GrpcStatus.ALREADY_EXISTS) ||
    hasGrpcStatus(error, GrpcStatus.NOT_FOUND)
  );
}

/**
 * Thrown from a round to fail with `failure` as it is, even when its status reads as a lost
 * race (e.g. a `create` of an id that must not be read and reused, or a hook's own error).
 */
export class RoundFailed extends Error {
  override name = "RoundFailed";
  constructor(readonly failure: unknown) {
    super("a conditional-write round failed", { cause: failure });
  }
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
      if (error instanceof RoundFailed) throw error.failure;
      if (!lostRace(error)) throw error;
    }
  }
  throw new Error(`${what} kept changing while it was written (${MAX_ROUNDS} rounds)`);
}

/**
 * One conditional write decided on an earlier read, not retried: its result, or undefined
 * when it lost the race (the orphan sweeper: a record that changed since it was listed has
 * an owner alive).
 */
export async function ifUnchanged<T>(write: () => Promise<T>): Promise<T | undefined> {
  try {
    return await write();
  } catch (error) {
    if (lostRace(error)) return undefined;
    throw error;
  }
}
