/**
 * Google Cloud clients bound to one environment's project, database and bucket.
 *
 * The emulator variables (PUBSUB_EMULATOR_HOST, FIRESTORE_EMULATOR_HOST,
 * STORAGE_EMULATOR_HOST) are honoured by the client libraries themselves, so the same
 * code runs against the emulators locally and against Google Cloud in production.
 */
import { Firestore } from "@google-cloud/firestore";
import { PubSub } from "@google-cloud/pubsub";
import { type Bucket, Storage } from "@google-cloud/storage";
import type { EnvironmentResources } from "./environment";

export interface GcpClients {
  readonly pubsub: PubSub;
  readonly firestore: Firestore;
  readonly storage: Storage;
  /** The environment's one audio bucket. */
  readonly bucket: Bucket;
  close(): Promise<void>;
}

export function createGcpClients(resources: EnvironmentResources): GcpClients {
  const pubsub = new PubSub({ projectId: resources.projectId });
  const firestore = new Firestore({
    projectId: resources.projectId,
    databaseId: resources.databaseId,
    ignoreUndefinedProperties: true,
  });
  const storage = new Storage({ projectId: resources.projectId });
  return {
    pubsub,
    firestore,
    storage,
    bucket: storage.bucket(resources.bucket),
    async close() {
      await Promise.allSettled([pubsub.close(), firestore.terminate()]);
    },
  };
}
