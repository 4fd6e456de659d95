/**
 * Conditional document updates that share RPCs: the updates asked for in one turn of the
 * event loop leave together in one Firestore `BatchWrite` (a BulkWriter closed on the next
 * turn). Unlike a batch `commit`, a BatchWrite applies each write on its own, with its own
 * precondition and its own result, so each caller hears exactly what a lone
 * `DocumentReference.update` would have told it (the write time, or FAILED_PRECONDITION).
 *
 * Why: the ingress records a durable position for every chunk before it acks it, one
 * document write each. Sent one RPC per write, the RPCs' fixed cost dominated the
 * ingress's CPU per chunk, and the database's; chunks whose publishes Pub/Sub confirmed
 * together are now recorded together (bench/NOTES.md has the figures).
 *
 * A BulkWriter lives for one turn only, so none is left open when the Firestore client is
 * terminated (terminate refuses while one is).
 */
import type {
  BulkWriter,
  BulkWriterError,
  DocumentReference,
  Firestore,
  Precondition,
  WriteResult,
} from "@google-cloud/firestore";
import { GrpcStatus } from "../../shared/grpc-error";

/** Attempts of one write on a transient failure (BulkWriter backs off 1 s, then 1.5x). */
const MAX_ATTEMPTS = 5;
const TRANSIENT: ReadonlySet<number> = new Set([
  GrpcStatus.UNAVAILABLE,
  GrpcStatus.RESOURCE_EXHAUSTED,
  GrpcStatus.ABORTED,
]);

export class BatchedUpdates {
  private writer: BulkWriter | undefined;

  constructor(private readonly db: Firestore) {}

  /** `ref.update(data, precondition)`, sent with the other updates of this turn. */
  async update(
    ref: DocumentReference,
    data: Record<string, unknown>,
    precondition: Precondition,
  ): Promise<WriteResult> {
    return await this.currentWriter().update(ref, data, precondition);
  }

  private currentWriter(): BulkWriter {
    if (this.writer !== undefined) return this.writer;
    // The database's own limits apply; the ingress bounds its writes itself (one in flight
    // per conversation), so BulkWriter's ramp-up throttle would only delay acks.
    const writer = this.db.bulkWriter({ throttling: false });
    writer.onWriteError((error: BulkWriterError) => TRANSIENT.has(error.code) && error.failedAttempts < MAX_ATTEMPTS);
    this.writer = writer;
    setImmediate(() => {
      this.writer = undefined;
      // Sends the batch; each update's own promise carries its result.
      void writer.close();
    });
    return writer;
  }
}
