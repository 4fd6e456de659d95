/**
 * All three emulators as one unit: started together, stopped together, and described in
 * the form the client libraries read from the environment.
 */
import { assertGcloudEmulatorsInstalled, startGcloudEmulator } from "./gcloud-emulator";
import { assertPortFree } from "./ports";
import { startStorageEmulator } from "./storage-emulator";

export interface EmulatorPorts {
  pubsub: number;
  firestore: number;
  storage: number;
}

/** The `emulators` object of the state file (PROTOCOL.md section 5). */
export interface EmulatorEndpoints {
  /** host:port */
  pubsub: string;
  /** host:port */
  firestore: string;
  /** http://host:port */
  storage: string;
}

export interface RunningEmulators {
  readonly endpoints: EmulatorEndpoints;
  stop(): Promise<void>;
}

/** The variables that point the Google Cloud client libraries at the emulators. */
export function emulatorEnvironment(endpoints: EmulatorEndpoints): Record<string, string> {
  return {
    PUBSUB_EMULATOR_HOST: endpoints.pubsub,
    FIRESTORE_EMULATOR_HOST: endpoints.firestore,
    STORAGE_EMULATOR_HOST: endpoints.storage,
    // Never look for GCE credentials on a laptop or CI machine.
    METADATA_SERVER_DETECTION: "none",
  };
}

export async function startEmulators(host: string, ports: EmulatorPorts): Promise<RunningEmulators> {
  assertGcloudEmulatorsInstalled(["pubsub", "firestore"]);
  await assertPortFree(host, ports.pubsub, "Pub/Sub emulator");
  await assertPortFree(host, ports.firestore, "Firestore emulator");
  await assertPortFree(host, ports.storage, "Storage emulator");

  // Start all three at once; if any fails, stop the ones that did start.
  const results = await Promise.allSettled([
    startGcloudEmulator("pubsub", host, ports.pubsub),
    startGcloudEmulator("firestore", host, ports.firestore),
    startStorageEmulator(host, ports.storage),
  ] as const);
  const started = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const stop = async (): Promise<void> => {
    await Promise.allSettled(started.map((e) => e.stop()));
  };
  const [pubsub, firestore, storage] = results;
  if (pubsub.status === "rejected" || firestore.status === "rejected" || storage.status === "rejected") {
    await stop();
    const failure = results.find((r) => r.status === "rejected");
    throw failure?.status === "rejected" ? failure.reason : new Error("an emulator failed to start");
  }
  return {
    endpoints: { pubsub: pubsub.value.hostPort, firestore: firestore.value.hostPort, storage: storage.value.url },
    stop,
  };
}
