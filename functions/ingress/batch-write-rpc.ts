/**
 * Firestore's BatchWrite RPC as gRPC over one HTTP/2 session of our own (grpc-unary.ts), for
 * the ingress's per-chunk conditional updates (batched-updates.ts). Through the client
 * library each BatchWrite paid its per-RPC machinery (gax wrappers, a tracing span, a
 * captured stack, grpc-js) once per turn of chunks; that was the ingress's next CPU cost
 * after the chunks' own publishes (bench/NOTES.md).
 *
 * The endpoint, the credentials and the headers are the Firestore client's own, read from
 * its resolved settings (its index.js and v1/firestore_client.js, @google-cloud/firestore
 * 7.11): the emulator (FIRESTORE_EMULATOR_HOST, `ssl: false`) over plain HTTP/2 with the
 * client's `authorization: Bearer owner`, or firestore.googleapis.com over TLS with the
 * gapic client's GoogleAuth headers; and on every call `google-cloud-resource-prefix` and
 * `x-goog-request-params`, as the library's `createCallOptions` and gapic `batchWrite` set.
 */
import querystring from "node:querystring";
import type { Firestore } from "@google-cloud/firestore";
import { z } from "zod";
import { GrpcStatus } from "../../shared/grpc-error";
import { decodeBatchWriteResponse, encodeBatchWriteRequest, type WriteOutcome } from "./firestore-wire";
import { authHeaders, type GrpcEndpoint, type RequestHeadersSource, UnaryGrpc, type UnaryTiming } from "./grpc-unary";

/**
 * BatchWrite's retry settings in the client library's firestore_client_config.json: codes
 * `resource_exhausted_aborted_unavailable`, params `default` (100 ms, x1.3, at most 60 s
 * apart, 600 s in all; 60 s per attempt).
 */
const BATCH_WRITE_RETRY = {
  retryable: new Set([GrpcStatus.RESOURCE_EXHAUSTED, GrpcStatus.ABORTED, GrpcStatus.UNAVAILABLE]),
  firstBackoffMs: 100,
  backoffMultiplier: 1.3,
  maxBackoffMs: 60_000,
  totalMs: 600_000,
};

/** The database's calls go to, as `projects/P/databases/D`. */
export interface FirestoreEndpoint extends GrpcEndpoint {
  readonly database: string;
}

/** The members of the Firestore client (7.11) its endpoint is read from; checked at run time. */
interface FirestoreInternals {
  initializeIfNeeded(requestTag: string): Promise<void>;
  readonly formattedName: string;
  readonly _settings: unknown;
  readonly _clientPool: {
    run<T>(requestTag: string, requiresGrpc: boolean, op: (client: unknown) => Promise<T>): Promise<T>;
  };
}

const settingsSchema = z.object({
  ssl: z.boolean().optional(),
  customHeaders: z.record(z.string(), z.string()).optional(),
});
const gapicSchema = z.object({
  _opts: z.object({ servicePath: z.string().min(1), port: z.number().int().positive() }),
  auth: z.custom<RequestHeadersSource>(
    (auth) => typeof (auth as { getRequestHeaders?: unknown } | null)?.getRequestHeaders === "function",
  ),
});

/** The Firestore client's own endpoint and credentials (its project id resolved first). */
export async function firestoreEndpointOf(db: Firestore): Promise<FirestoreEndpoint> {
  const internals = db as unknown as FirestoreInternals;
  if (typeof internals.initializeIfNeeded !== "function" || typeof internals._clientPool?.run !== "function") {
    throw new Error("this Firestore client does not expose the settings BatchWrite is sent with (version changed?)");
  }
  // Sets the emulator's `Authorization: Bearer owner` custom header, and the project id.
  await internals.initializeIfNeeded("batch-write-endpoint");
  const settings = settingsSchema.parse(internals._settings);
  const gapic = gapicSchema.parse(await internals._clientPool.run("batch-write-endpoint", false, async (c) => c));
  const custom: Record<string, string> = {};
  for (const [name, value] of Object.entries(settings.customHeaders ?? {})) custom[name.toLowerCase()] = value;
  const { servicePath, port } = gapic._opts;
  const database = internals.formattedName;
  if (settings.ssl === false) {
    return { origin: `http://${servicePath}:${port}`, database, headers: async () => custom };
  }
  return {
    origin: `https://${servicePath}:${port}`,
    database,
    headers: async () => ({ ...(await authHeaders(gapic.auth)), ...custom }),
  };
}

/** A write as sent: its document's name (for counting) and its encoded Write message. */
export interface EncodedWrite {
  readonly name: string;
  readonly write: Buffer;
}

export class BatchWriteRpc {
  private readonly grpc: UnaryGrpc;

  constructor(
    private readonly endpoint: FirestoreEndpoint,
    /** Shorter only in tests of what a deadline does. */
    timing: UnaryTiming = {},
  ) {
    this.grpc = new UnaryGrpc(
      endpoint,
      {
        path: "/google.firestore.v1.Firestore/BatchWrite",
        headers: {
          "google-cloud-resource-prefix": endpoint.database,
          "x-goog-request-params": querystring.stringify({ database: endpoint.database }),
        },
        retry: BATCH_WRITE_RETRY,
      },
      timing,
    );
  }

  /** The documents' names are under this prefix. */
  get documents(): string {
    return `${this.endpoint.database}/documents/`;
  }

  /**
   * Sends `writes` in one BatchWrite, retried whole as the client library would; each write's
   * outcome in order. Rejects (a GrpcCallError) only when the RPC itself failed.
   */
  async batchWrite(writes: readonly EncodedWrite[]): Promise<WriteOutcome[]> {
    const parts = encodeBatchWriteRequest(
      this.endpoint.database,
      writes.map((write) => write.write),
    );
    return await this.grpc.call(parts, (body) => decodeBatchWriteResponse(body, writes.length));
  }

  connect(): void {
    this.grpc.connect();
  }

  close(): void {
    this.grpc.close();
  }
}
