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
 */
import { deletionMessage } from "../../shared/deletion-messages";
import type { Logger } from "../../shared/logger";
import { type ComponentKey, PIPELINE } from "../../shared/pipeline";
import type { EnvironmentRuntime } from "../runtime";
import { purgeConversation } from "./purge";
import { readTombstone } from "./tombstone";

export interface DeletionGuard {
  /** True when the conversation is deleted (a message about it must store nothing). */
  isDeleted(conversationId: string, logger: Logger): Promise<boolean>;
  /** After a write: purges again if the conversation was deleted meanwhile; true if it was. */
  sweepIfDeleted(conversationId: string, logger: Logger): Promise<boolean>;
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
  };
}
