/**
 * Counts what the Google Cloud clients of this process ask of the services, as they are
 * billed: Firestore document reads and writes (at the client's one funnel for RPCs,
 * `Firestore#request` / `#requestStream`), Pub/Sub publish requests and bytes (at
 * `PubSub#request`), and Storage operations by class (an HTTP proxy in front of the
 * emulator: every request of every client passes it). The emulators carry the traffic;
 * nothing is answered here.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Firestore } from "@google-cloud/firestore";
import { PubSub } from "@google-cloud/pubsub";

export interface Counts {
  firestoreReads: number;
  firestoreWrites: number;
  /** Per RPC method: calls. */
  firestoreCalls: Record<string, number>;
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
  for (const key of Object.keys(into) as Array<keyof Counts>) {
    if (key === "firestoreCalls") {
      for (const [method, n] of Object.entries(from.firestoreCalls))
        into.firestoreCalls[method] = (into.firestoreCalls[method] ?? 0) + n;
    } else into[key] += from[key];
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
  writes?: unknown[];
}

/** Counts one streamed response the way it is billed: a document found or missing is one read. */
function readsIn(method: string, response: Record<string, unknown>): number {
  if (method === "batchGetDocuments") return response.found || response.missing ? 1 : 0;
  if (method === "runQuery") return response.document ? 1 : 0;
  if (method === "runAggregationQuery") return response.result ? 1 : 0;
  return 0;
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
      if (method === "commit" || method === "batchWrite") counts.firestoreWrites += req.writes?.length ?? 0;
    }
    return request.call(this, method, req, ...rest);
  };
  const requestStream = proto.requestStream;
  proto.requestStream = async function (this: Firestore, method, ...rest) {
    const stream = (await requestStream.call(this, method, ...(rest as [WriteRequest]))) as NodeJS.EventEmitter;
    if (uncounted.has(this) || method === "listen") return stream;
    counts.firestoreCalls[method] = (counts.firestoreCalls[method] ?? 0) + 1;
    let reads = 0;
    // Counted as emitted, without a listener of our own: the stream stays paused for its reader.
    const emit = stream.emit.bind(stream);
    stream.emit = (event: string | symbol, ...args: unknown[]): boolean => {
      if (event === "data") reads += readsIn(method, args[0] as Record<string, unknown>);
      if (event === "end") {
        // A query is billed at least one read, whatever it returns.
        counts.firestoreReads += method === "batchGetDocuments" ? reads : Math.max(1, reads);
      }
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
}

/** A message's billable size: data, attribute keys and values, ordering key (plus the 20-byte timestamp). */
export function messageBytes(data: Uint8Array | undefined, attributes: object | undefined, orderingKey?: string): number {
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
