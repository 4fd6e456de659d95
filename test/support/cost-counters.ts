/**
 * Counts what the Google Cloud clients of this process ask of the services, as they are
 * billed: Firestore document reads and writes (at the client's one funnel for RPCs,
 * `Firestore#request` / `#requestStream`, and the ingress's own `BatchWriteRpc#batchWrite`),
 * Pub/Sub publish requests and bytes (at `PubSub#request`, and the ingress's own
 * `PublishRpc#publish`), and Storage operations by class (an HTTP proxy in front of the
 * emulator: every request of every client passes it). The emulators carry the traffic;
 * nothing is answered here.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Firestore } from "@google-cloud/firestore";
import { PubSub } from "@google-cloud/pubsub";
import { BatchWriteRpc } from "../../functions/ingress/batch-write-rpc";
import { PublishRpc } from "../../functions/ingress/publish-rpc";

export interface Counts {
  firestoreReads: number;
  firestoreWrites: number;
  /** Per RPC method: calls. */
  firestoreCalls: Record<string, number>;
  /** Per collection (the document's last collection id, `reads:chunks`, `writes:conversations`): operations. */
  firestoreByCollection: Record<string, number>;
  pubsubPublishRequests: number;
  /** Message data + attribute keys and values + ordering key, as Pub/Sub bills a message. */
  pubsubPublishBytes: number;
  pubsubPublishedMessages: number;
  storageClassA: number;
  storageClassB: number;
  storageFree: number;
  storageUploadBytes: number;
  storageDownloadBytes: number;
}

export function emptyCounts(): Counts {
  return {
    firestoreReads: 0,
    firestoreWrites: 0,
    firestoreCalls: {},
    firestoreByCollection: {},
    pubsubPublishRequests: 0,
    pubsubPublishBytes: 0,
    pubsubPublishedMessages: 0,
    storageClassA: 0,
    storageClassB: 0,
    storageFree: 0,
    storageUploadBytes: 0,
    storageDownloadBytes: 0,
  };
}

export function addCounts(into: Counts, from: Counts): void {
  addScaledCounts(into, from, 1);
}

/** `from` times `k` added into `into` (derived figures: `k` may be fractional or negative). */
export function addScaledCounts(into: Counts, from: Counts, k: number): void {
  for (const key of Object.keys(into) as Array<keyof Counts>) {
    if (key === "firestoreCalls" || key === "firestoreByCollection") {
      for (const [name, n] of Object.entries(from[key])) into[key][name] = (into[key][name] ?? 0) + k * n;
    } else into[key] += k * from[key];
  }
}

/** The counts of this process (reset by the caller between phases). */
export const counts: Counts = emptyCounts();

/** Firestore clients whose operations are not counted (the bench's own probes). */
const uncounted = new WeakSet<object>();
export function excludeFromCounts(client: Firestore): void {
  uncounted.add(client);
}

interface WriteRequest {
  writes?: Array<{ update?: { name?: string }; delete?: string; transform?: { document?: string } }>;
  parent?: string;
  structuredQuery?: { from?: Array<{ collectionId?: string }> };
  structuredAggregationQuery?: { structuredQuery?: { from?: Array<{ collectionId?: string }> } };
}

/** The last collection id of a document path (`.../conversations/c/chunks/00000001` → `chunks`). */
function collectionOf(name: string | undefined): string {
  const segments = (name ?? "").split("/documents/")[1]?.split("/") ?? [];
  return segments[segments.length - 2] ?? "?";
}

function countBy(kind: "reads" | "writes", collection: string, n: number): void {
  if (n === 0) return;
  const key = `${kind}:${collection}`;
  counts.firestoreByCollection[key] = (counts.firestoreByCollection[key] ?? 0) + n;
}

/** The collection one streamed response read a document of (a found or missing document is one read), if any. */
function readIn(method: string, response: Record<string, unknown>): string | undefined {
  const found = response.found as { name?: string } | undefined;
  const document = response.document as { name?: string } | undefined;
  if (method === "batchGetDocuments" && (found || response.missing))
    return collectionOf(found?.name ?? (response.missing as string));
  if (method === "runQuery" && document) return collectionOf(document.name);
  if (method === "runAggregationQuery" && response.result) return "(count)";
  return undefined;
}

function queriedCollection(request: WriteRequest): string {
  const from = request.structuredQuery?.from ?? request.structuredAggregationQuery?.structuredQuery?.from;
  return from?.[0]?.collectionId ?? "?";
}

let installed = false;

/** Patches the client prototypes of this process once. */
export function installCounters(): void {
  if (installed) return;
  installed = true;
  type Funnel = (this: Firestore, method: string, request: WriteRequest, ...rest: unknown[]) => Promise<unknown>;
  const proto = Firestore.prototype as unknown as { request: Funnel; requestStream: Funnel };
  const request = proto.request;
  proto.request = function (this: Firestore, method, req, ...rest) {
    if (!uncounted.has(this)) {
      counts.firestoreCalls[method] = (counts.firestoreCalls[method] ?? 0) + 1;
      if (method === "commit" || method === "batchWrite") {
        counts.firestoreWrites += req.writes?.length ?? 0;
        for (const w of req.writes ?? [])
          countBy("writes", collectionOf(w.update?.name ?? w.delete ?? w.transform?.document), 1);
      }
    }
    return request.call(this, method, req, ...rest);
  };
  const requestStream = proto.requestStream;
  proto.requestStream = async function (this: Firestore, method, ...rest) {
    const stream = (await requestStream.call(this, method, ...(rest as [WriteRequest]))) as NodeJS.EventEmitter;
    const request = (rest[1] ?? {}) as WriteRequest;
    if (uncounted.has(this) || method === "listen") return stream;
    counts.firestoreCalls[method] = (counts.firestoreCalls[method] ?? 0) + 1;
    let reads = 0;
    // Counted as emitted, without a listener of our own: the stream stays paused for its reader.
    const emit = stream.emit.bind(stream);
    stream.emit = (event: string | symbol, ...args: unknown[]): boolean => {
      if (event === "data") {
        const collection = readIn(method, args[0] as Record<string, unknown>);
        if (collection !== undefined) {
          reads += 1;
          countBy("reads", collection, 1);
        }
      }
      if (event === "end" && method !== "batchGetDocuments" && reads === 0) {
        // A query is billed at least one read, whatever it returns.
        reads = 1;
        countBy("reads", queriedCollection(request), 1);
      }
      if (event === "end") counts.firestoreReads += reads;
      return emit(event, ...args);
    };
    return stream;
  };

  type PubSubRequest = (this: PubSub, config: { method: string; reqOpts: unknown }, ...rest: unknown[]) => void;
  const pubsubProto = PubSub.prototype as unknown as { request: PubSubRequest };
  const pubsubRequest = pubsubProto.request;
  pubsubProto.request = function (this: PubSub, config, ...rest) {
    if (config.method === "publish") {
      const messages =
        (config.reqOpts as { messages?: Array<{ data?: Uint8Array; attributes?: object; orderingKey?: string }> })
          .messages ?? [];
      counts.pubsubPublishRequests += 1;
      counts.pubsubPublishedMessages += messages.length;
      for (const m of messages) counts.pubsubPublishBytes += messageBytes(m.data, m.attributes, m.orderingKey);
    }
    return pubsubRequest.call(this, config, ...rest);
  };

  // The ingress's per-chunk updates go in BatchWrites of its own, not through the client.
  const rpcBatchWrite = BatchWriteRpc.prototype.batchWrite;
  BatchWriteRpc.prototype.batchWrite = function (this: BatchWriteRpc, writes) {
    counts.firestoreCalls.batchWrite = (counts.firestoreCalls.batchWrite ?? 0) + 1;
    counts.firestoreWrites += writes.length;
    for (const w of writes) countBy("writes", collectionOf(w.name), 1);
    return rpcBatchWrite.call(this, writes);
  };

  const rpcPublish = PublishRpc.prototype.publish;
  PublishRpc.prototype.publish = function (this: PublishRpc, messages) {
    counts.pubsubPublishRequests += 1;
    counts.pubsubPublishedMessages += messages.length;
    for (const m of messages) counts.pubsubPublishBytes += messageBytes(m.data, m.attributes);
    return rpcPublish.call(this, messages);
  };
}

/** A message's billable size: data, attribute keys and values, ordering key (plus the 20-byte timestamp). */
export function messageBytes(
  data: Uint8Array | undefined,
  attributes: object | undefined,
  orderingKey?: string,
): number {
  let bytes = 20 + (data?.length ?? 0) + Buffer.byteLength(orderingKey ?? "");
  for (const [key, value] of Object.entries(attributes ?? {})) {
    bytes += Buffer.byteLength(key) + Buffer.byteLength(String(value));
  }
  return bytes;
}

/**
 * Storage's operation classes by JSON API request: writes, lists and copies are class A,
 * object reads and metadata class B, deletes free.
 */
export function storageClass(method: string, url: string): "A" | "B" | "free" {
  const path = url.split("?")[0] ?? "";
  if (method === "DELETE") return "free";
  if (method === "GET") return /\/b\/[^/]+\/o\/?$/.test(path) ? "A" : "B";
  return "A";
}

/** An HTTP proxy to the Storage emulator at `target` that counts each request into `counts`. */
export async function startStorageCounter(
  host: string,
  target: string,
): Promise<{ url: string; close(): Promise<void> }> {
  const upstream = new URL(target);
  const server = http.createServer((req, res) => {
    const kind = storageClass(req.method ?? "GET", req.url ?? "");
    if (kind === "A") counts.storageClassA += 1;
    else if (kind === "B") counts.storageClassB += 1;
    else counts.storageFree += 1;
    const forward = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.on("data", (chunk: Buffer) => {
          counts.storageDownloadBytes += chunk.length;
        });
        answer.pipe(res);
      },
    );
    forward.on("error", () => res.destroy());
    req.on("data", (chunk: Buffer) => {
      counts.storageUploadBytes += chunk.length;
    });
    req.pipe(forward);
  });
  // Longer than the clients keep idle connections, so none is reused as the proxy closes it.
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
