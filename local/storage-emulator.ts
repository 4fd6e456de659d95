/**
 * The Cloud Storage emulator, run in-process.
 *
 * There is no gcloud storage emulator, and `firebase emulators:start` cannot run on these
 * machines, so we start firebase-tools' storage emulator server directly. Measured here:
 * it serves save, download, ranged reads and listing; it ignores generation preconditions;
 * buckets appear on first write.
 */
import fs from "node:fs";
import type { Server } from "node:http";
import os from "node:os";
import path from "node:path";
import { EmulatorRegistry } from "firebase-tools/lib/emulator/registry";
import { StorageEmulator } from "firebase-tools/lib/emulator/storage";
import { createApp } from "firebase-tools/lib/emulator/storage/server";

export interface RunningStorageEmulator {
  readonly url: string;
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
  const app = await createApp("tether-local", emulator);
  const server: Server = await new Promise((resolve, reject) => {
    const listening = app.listen(port, host);
    listening.once("listening", () => resolve(listening));
    listening.once("error", reject);
  });
  // Node closes an idle kept-alive socket after 5 s, racing a client that reuses it (EPIPE on
  // an upload, more often under load); Cloud Storage keeps idle connections far longer.
  server.keepAliveTimeout = 10 * 60_000;
  server.headersTimeout = server.keepAliveTimeout + 1_000;
  const actual = server.address();
  const boundPort = typeof actual === "object" && actual ? actual.port : port;
  return {
    url: `http://${host}:${boundPort}`,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(blobDir, { recursive: true, force: true });
    },
  };
}
