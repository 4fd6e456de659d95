// The slice of firebase-tools' internal storage emulator that local/storage-emulator.ts
// uses. firebase-tools ships no types for these internal modules; the shapes below were
// read from firebase-tools 15.34.2 (lib/emulator/storage/index.js, server.js, registry.js).
declare module "firebase-tools/lib/emulator/storage" {
  export interface StorageEmulatorArgs {
    projectId: string;
    host: string;
    port: number;
    auto_download: boolean;
    rules: unknown[];
  }
  export class StorageEmulator {
    constructor(args: StorageEmulatorArgs);
    getPersistenceTmpDir(): string;
  }
}

declare module "firebase-tools/lib/emulator/storage/server" {
  import type { IncomingMessage, ServerResponse } from "node:http";
  import type { StorageEmulator } from "firebase-tools/lib/emulator/storage";
  /** An express application: a request listener. */
  export function createApp(
    defaultProjectId: string,
    emulator: StorageEmulator,
  ): Promise<(req: IncomingMessage, res: ServerResponse) => void>;
}

declare module "firebase-tools/lib/emulator/registry" {
  // biome-ignore lint/complexity/noStaticOnlyClass: mirrors firebase-tools' own class
  export class EmulatorRegistry {
    static set(name: "storage", instance: unknown): void;
  }
}
