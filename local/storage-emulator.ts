/**
 * The Cloud Storage emulator, run in-process.
 *
 * There is no gcloud storage emulator, and `firebase emulators:start` cannot run on these
 * machines, so we start firebase-tools' storage emulator server directly. Measured here:
 * it serves save, download, ranged reads and listing; buckets appear on first write; it
 * ignores generation preconditions, so this module enforces the one tether relies on
 * (`ifGenerationMatch=0` on an upload: create only if absent) in front of it.
 */
import fs from "node:fs";
import http, { type IncomingMessage, type Server, type ServerResponse } from "node:http";
import os from "node:os";
import path from "node:path";
import { EmulatorRegistry } from "firebase-tools/lib/emulator/registry";
import { StorageEmulator } from "firebase-tools/lib/emulator/storage";
import { createApp } from "firebase-tools/lib/emulator/storage/server";

export interface RunningStorageEmulator {
  readonly url: string;
  /** Creates with `ifGenerationMatch=0` received and not yet answered (for tests). */
  pendingCreates(): number;
  stop(): Promise<void>;
}

export async function startStorageEmulator(host: string, port: number): Promise<RunningStorageEmulator> {
  // Each emulator keeps its blobs in a directory of its own, so two stacks never share one.
  const blobDir = fs.mkdtempSync(path.join(os.tmpdir(), "tether-storage-"));
  class IsolatedStorageEmulator extends StorageEmulator {
    override getPersistenceTmpDir(): string {
      return blobDir;
    }
  }
  const emulator = new IsolatedStorageEmulator({
    projectId: "tether-local",
    host,
    port,
    auto_download: false,
    // Rules are not evaluated for admin (service-account) requests, which is all tether makes.
    rules: [],
  });
  EmulatorRegistry.set("storage", emulator);
  let boundPort = port;
  const app = await createApp("tether-local", emulator);
  const gate = createOnlyIfAbsent(app, () => `http://${host}:${boundPort}`);
  const server: Server = await new Promise((resolve, reject) => {
    const created = http.createServer(gate.handle);
    // Longer than the clients keep an idle connection: a request on a connection the server
    // closes at that moment fails with ECONNRESET (Node's default is 5 s).
    created.keepAliveTimeout = 65_000;
    const listening = created.listen(port, host);
    listening.once("listening", () => resolve(listening));
    listening.once("error", reject);
  });
  const actual = server.address();
  boundPort = typeof actual === "object" && actual ? actual.port : port;
  return {
    url: `http://${host}:${boundPort}`,
    pendingCreates: () => gate.pending(),
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(blobDir, { recursive: true, force: true });
    },
  };
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Google Cloud Storage's `ifGenerationMatch=0` on an upload: the write succeeds only if no
 * object has the name, so of concurrent creates exactly one wins and the others get 412.
 * Uploads of one name with the precondition run one at a time here (an existence check,
 * then the emulator's own upload, to its answer), which gives that atomicity.
 */
export function createOnlyIfAbsent(app: Handler, self: () => string): { handle: Handler; pending(): number } {
  const queues = new Map<string, Promise<void>>();
  let pending = 0;
  const handle: Handler = (req, res) => {
    const url = new URL(req.url ?? "/", "http://emulator");
    const bucket = /^\/upload\/storage\/v1\/b\/([^/]+)\/o\/?$/.exec(url.pathname)?.[1];
    const name = url.searchParams.get("name");
    if (
      req.method !== "POST" ||
      bucket === undefined ||
      name === null ||
      url.searchParams.get("ifGenerationMatch") !== "0"
    ) {
      app(req, res);
      return;
    }
    const key = `${bucket}/${name}`;
    pending += 1;
    res.once("close", () => {
      pending -= 1;
    });
    const turn = (queues.get(key) ?? Promise.resolve()).then(async () => {
      const exists = await objectExists(self(), bucket, name);
      if (exists) {
        req.resume();
        const body = JSON.stringify({
          error: { code: 412, message: "At least one of the pre-conditions you specified did not hold.", errors: [] },
        });
        res.writeHead(412, { "content-type": "application/json" });
        res.end(body);
        return;
      }
      // Cut while it waited its turn: its close has already passed, and waiting for it would
      // stall every later create of this name.
      if (res.closed || req.destroyed) return;
      const done = new Promise<void>((resolve) => res.once("close", resolve));
      app(req, res);
      await done;
    });
    const settled = turn.catch(() => {
      res.destroy();
    });
    queues.set(key, settled);
    void settled.then(() => {
      if (queues.get(key) === settled) queues.delete(key);
    });
  };
  return { handle, pending: () => pending };
}

async function objectExists(base: string, bucket: string, name: string): Promise<boolean> {
  const status = await new Promise<number>((resolve, reject) => {
    http
      .get(`${base}/storage/v1/b/${bucket}/o/${encodeURIComponent(name)}`, (answer) => {
        answer.resume();
        resolve(answer.statusCode ?? 0);
      })
      .on("error", reject);
  });
  if (status === 200) return true;
  if (status === 404) return false;
  throw new Error(`the storage emulator answered ${status} for ${bucket}/${name}`);
}
