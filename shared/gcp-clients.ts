/**
 * Google Cloud clients bound to one environment's project, database and bucket.
 *
 * The emulator variables (PUBSUB_EMULATOR_HOST, FIRESTORE_EMULATOR_HOST,
 * STORAGE_EMULATOR_HOST) are honoured by the client libraries themselves, so the same
 * code runs against the emulators locally and against Google Cloud in production.
 */
import { Firestore } from "@google-cloud/firestore";
import { PubSub, v1 } from "@google-cloud/pubsub";
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

/**
 * A low-level subscriber (synchronous Pull, explicit acks) with `pubsub`'s own settings:
 * the emulator host or Google Cloud, credentials, project.
 */
export async function subscriberClientFor(pubsub: PubSub): Promise<v1.SubscriberClient> {
  return new v1.SubscriberClient(
    (await pubsub.getClientConfig()) as ConstructorParameters<typeof v1.SubscriberClient>[0],
  );
}

/** A Pub/Sub message's `publishTime` (a protobuf Timestamp, as Pull answers it) as a Date. */
export function publishTimeDate(timestamp: {
  readonly seconds?: string | number | { toString(): string } | null;
  readonly nanos?: number | null;
}): Date {
  return new Date(Number(timestamp.seconds ?? 0) * 1000 + Math.floor((timestamp.nanos ?? 0) / 1e6));
}
