/**
 * The tombstone check every worker makes around its writes, so no late or redelivered
 * message brings a deleted conversation back:
 * - before: a deleted conversation's message stores nothing and is acknowledged;
 * - after (and when a write failed): if the tombstone appeared meanwhile, the write may
 *   have landed after the purge listed the stores, so the purge runs again.
 * Firestore is strongly consistent: a check that misses the tombstone ran before it was
 * written, so the write it follows came before the purge's listing, which then saw it.
 * A worker whose declaration grants it the bucket purges itself; another (events) asks the
 * delete-data worker to purge again, so it never needs access to the audio.
 *
 * The check after a write may read the bucket's tombstone object instead (a Storage read,
 * not a database one): every purge writes that object before it lists anything (./purge.ts),
 * and Storage is strongly consistent, so a check that misses it ran before it was written,
 * and the write it follows came before the listing, which then saw it. A check that finds
 * it purges again. Before any write, the tombstone document stays the one to check.
 */
import { deletionMessage } from "../../shared/deletion-messages";
import { parseDocument } from "../../shared/firestore-schema";
import type { Logger } from "../../shared/logger";
import { type ComponentKey, PIPELINE } from "../../shared/pipeline";
import { tombstoneObjectName } from "../../shared/storage-paths";
import type { EnvironmentRuntime } from "../runtime";
import { purgeConversation, storageTombstoneSchema } from "./purge";
import { readTombstone } from "./tombstone";

export interface DeletionGuard {
  /** True when the conversation is deleted (a message about it must store nothing). */
  isDeleted(conversationId: string, logger: Logger): Promise<boolean>;
  /** After a write: purges again if the conversation was deleted meanwhile; true if it was. */
  sweepIfDeleted(conversationId: string, logger: Logger): Promise<boolean>;
  /** `sweepIfDeleted` by the bucket's tombstone object: for a worker that may purge the bucket. */
  sweepIfPurging(conversationId: string, logger: Logger): Promise<boolean>;
}

/** Storage's answer for an object that does not exist. */
function isNotFound(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === 404;
}

export function createDeletionGuard(runtime: EnvironmentRuntime, component: ComponentKey): DeletionGuard {
  const db = runtime.clients.firestore;
  const deps = { db, bucket: runtime.clients.bucket };
  const declared = PIPELINE.components[component];
  const environment = runtime.resources.environment;
  const deletionTopic = runtime.clients.pubsub.topic(runtime.resources.topics.deletion);
  if (declared.bucket !== "readWrite" && !declared.publishes.includes("deletion"))
    throw new Error(`${component} can neither purge the bucket nor publish to deletion: see shared/pipeline.ts`);
  const purgeAgain = async (conversationId: string, userId: string, logger: Logger): Promise<void> => {
    if (declared.bucket === "readWrite") await purgeConversation(deps, { conversationId, userId }, logger);
    else
      await deletionTopic.publishMessage(
        deletionMessage(environment, { kind: "conversation", conversation_id: conversationId }),
      );
  };
  return {
    async isDeleted(conversationId, logger) {
      const tombstone = await readTombstone(db, conversationId);
      if (tombstone === undefined) return false;
      logger.info({ deleted_reason: tombstone.reason }, "message for a deleted conversation: nothing stored");
      return true;
    },
    async sweepIfDeleted(conversationId, logger) {
      const tombstone = await readTombstone(db, conversationId);
      if (tombstone === undefined) return false;
      logger.warn(
        { deleted_reason: tombstone.reason },
        "the conversation was deleted while this message was handled; purging again what it wrote",
      );
      await purgeAgain(conversationId, tombstone.user_id, logger);
      return true;
    },
    async sweepIfPurging(conversationId, logger) {
      if (declared.bucket !== "readWrite") throw new Error(`${component} may not read the bucket's tombstones`);
      const name = tombstoneObjectName(conversationId);
      let metadata: unknown;
      try {
        [{ metadata }] = await deps.bucket.file(name).getMetadata();
      } catch (error) {
        if (isNotFound(error)) return false;
        throw error;
      }
      const tombstone = parseDocument(storageTombstoneSchema, name, metadata);
      logger.warn(
        { tombstone_object: name },
        "the conversation was deleted while this message was handled; purging again what it wrote",
      );
      await purgeAgain(conversationId, tombstone.user_id, logger);
      return true;
    },
  };
}
