/**
 * Conditional document updates that share RPCs: the updates asked for in one turn of the
 * event loop leave together in one Firestore `BatchWrite` of our own (batch-write-rpc.ts).
 * Unlike a batch `commit`, a BatchWrite applies each write on its own, with its own
 * precondition and its own result, so each caller hears exactly what a lone
 * `DocumentReference.update(data, {lastUpdateTime})` would have told it (the write time,
 * or an error whose `code` is FAILED_PRECONDITION).
 *
 * Why: the ingress records a durable position for every chunk before it acks it, one
 * document write each. Sent one RPC per write, the RPCs' fixed cost dominated the
 * ingress's CPU per chunk, and the database's; chunks whose publishes Pub/Sub confirmed
 * together are now recorded together (bench/NOTES.md has the figures).
 *
 * What the client library's BulkWriter did for these writes is kept: at most 20 writes per
 * RPC, one write per document per RPC (BatchWrite refuses two), and a write that failed with
 * a transient status retried up to 5 attempts, 1 s apart and then 1.5 times longer each (60 s
 * after RESOURCE_EXHAUSTED).
 */
import type { DocumentReference, Firestore, Timestamp } from "@google-cloud/firestore";
import { GrpcStatus } from "../../shared/grpc-error";
import { BatchWriteRpc, type EncodedWrite, firestoreEndpointOf } from "./batch-write-rpc";
import { encodeWrite, type WriteOutcome } from "./firestore-wire";
import { GrpcCallError, type GrpcEndpoint } from "./grpc-unary";

/**
 * BulkWriter's batch size. The RPC takes up to 500, but a turn rarely holds more than a few
 * (the writes of one Pub/Sub response), and a bigger batch would make every write in it wait
 * for the slowest; the database sees the same requests as before.
 */
export const MAX_BATCH_WRITES = 20;
/** Attempts of one write on a transient failure (as the ingress's BulkWriter was told). */
const MAX_ATTEMPTS = 5;
const TRANSIENT: ReadonlySet<number> = new Set([
  GrpcStatus.UNAVAILABLE,
  GrpcStatus.RESOURCE_EXHAUSTED,
  GrpcStatus.ABORTED,
]);
/** BulkWriter's backoff (its backoff.js): 1 s, then 1.5 times longer; a minute after RESOURCE_EXHAUSTED. */
const FIRST_BACKOFF_MS = 1_000;
const BACKOFF_FACTOR = 1.5;
const EXHAUSTED_BACKOFF_MS = 60_000;

interface Pending extends EncodedWrite {
  failedAttempts: number;
  backoffMs: number;
  resolve(updateTime: Timestamp): void;
  reject(error: unknown): void;
}

export class BatchedUpdates {
  /** This turn's batches: each at most MAX_BATCH_WRITES writes, to distinct documents. */
  private batches: Pending[][] = [];
  private rpc: Promise<BatchWriteRpc> | undefined;
  private ready: BatchWriteRpc | undefined;

  constructor(
    private readonly db: Firestore,
    /** The one CA to trust instead of the system's (a test's TLS server); production leaves it out. */
    private readonly tls?: GrpcEndpoint["tls"],
  ) {}

  /**
   * `ref.update(data, {lastUpdateTime})`, sent with the other updates of this turn; resolves
   * with the write time, as WriteResult's `writeTime`. Throws at once for data not encoded here (firestore-wire.ts).
   */
  async update(
    ref: DocumentReference,
    data: Record<string, unknown>,
    precondition: { readonly lastUpdateTime: Timestamp },
  ): Promise<{ writeTime: Timestamp }> {
    if (ref.firestore !== this.db) throw new Error(`${ref.path} belongs to another Firestore client`);
    const rpc = this.ready ?? (await this.connected());
    const name = rpc.documents + ref.path;
    const write = encodeWrite({ name, data, lastUpdateTime: precondition.lastUpdateTime });
    const writeTime = await new Promise<Timestamp>((resolve, reject) => {
      this.enqueue(rpc, { name, write, failedAttempts: 0, backoffMs: 0, resolve, reject });
    });
    return { writeTime };
  }

  /** Resolves the endpoint and opens the session before the first chunk needs it. */
  async warmUp(): Promise<void> {
    (await this.connected()).connect();
  }

  close(): void {
    this.ready?.close();
  }

  private connected(): Promise<BatchWriteRpc> {
    this.rpc ??= firestoreEndpointOf(this.db).then(
      (endpoint) => {
        this.ready = new BatchWriteRpc(this.tls === undefined ? endpoint : { ...endpoint, tls: this.tls });
        return this.ready;
      },
      (error: unknown) => {
        this.rpc = undefined; // the next write asks again
        throw error;
      },
    );
    return this.rpc;
  }

  private enqueue(rpc: BatchWriteRpc, pending: Pending): void {
    if (this.batches.length === 0) setImmediate(() => this.send(rpc));
    let batch = this.batches.at(-1);
    if (batch === undefined || batch.length >= MAX_BATCH_WRITES || batch.some((other) => other.name === pending.name)) {
      batch = [];
      this.batches.push(batch);
    }
    batch.push(pending);
  }

  private send(rpc: BatchWriteRpc): void {
    const batches = this.batches;
    this.batches = [];
    for (const batch of batches) void this.sendBatch(rpc, batch);
  }

  private async sendBatch(rpc: BatchWriteRpc, batch: readonly Pending[]): Promise<void> {
    let outcomes: WriteOutcome[];
    try {
      outcomes = await rpc.batchWrite(batch);
    } catch (error) {
      // The whole RPC failed (after its own retries): each write fails with its status, as in BulkWriter.
      const code = (error as { code?: unknown }).code;
      outcomes = batch.map(() => ({
        ok: false,
        code: typeof code === "number" ? code : GrpcStatus.UNKNOWN,
        message: (error as Error).message,
      }));
    }
    batch.forEach((pending, i) => {
      const outcome = outcomes[i] as WriteOutcome;
      if (outcome.ok) {
        pending.resolve(outcome.updateTime);
        return;
      }
      pending.failedAttempts += 1;
      if (TRANSIENT.has(outcome.code) && pending.failedAttempts < MAX_ATTEMPTS) {
        if (outcome.code === GrpcStatus.RESOURCE_EXHAUSTED) pending.backoffMs = EXHAUSTED_BACKOFF_MS;
        else pending.backoffMs = pending.backoffMs === 0 ? FIRST_BACKOFF_MS : pending.backoffMs * BACKOFF_FACTOR;
        setTimeout(() => this.enqueue(rpc, pending), pending.backoffMs);
        return;
      }
      pending.reject(new GrpcCallError("BatchWrite", outcome.code, outcome.message, false));
    });
  }
}
