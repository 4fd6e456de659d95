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
 * A worker that reads the conversation record anyway may pass that read instead: the record
 * carries `deleted_at` from the tombstone's own batch (./tombstone.ts), so a record without
 * it was read before the tombstone existed, exactly as a missed tombstone. Only a missing
 * record (purged, or never created) costs the tombstone read.
 */
import type { ConversationDoc } from "../../shared/conversation-record";
import { deletionMessage } from "../../shared/deletion-messages";
import type { Logger } from "../../shared/logger";
import { type ComponentKey, PIPELINE } from "../../shared/pipeline";
import type { EnvironmentRuntime } from "../runtime";
import { purgeConversation } from "./purge";
import { readTombstone } from "./tombstone";

/** The caller's read of the conversation record (`record` undefined: there was none). */
export interface RecordRead {
  readonly record: Pick<ConversationDoc, "deleted_at" | "user_id"> | undefined;
}

export interface DeletionGuard {
  /** True when the conversation is deleted (a message about it must store nothing). */
  isDeleted(conversationId: string, logger: Logger, read?: RecordRead): Promise<boolean>;
  /**
   * After a write: purges again if the conversation was deleted meanwhile; true if it was.
   * A `read` passed here must have been made after the write.
   */
  sweepIfDeleted(conversationId: string, logger: Logger, read?: RecordRead): Promise<boolean>;
}

/** The deletion a record read shows: deleted (with its owner), not deleted, or unknown (no record). */
function deletionOf(read: RecordRead | undefined): { deleted: boolean; userId: string } | undefined {
  const record = read?.record;
  if (record === undefined) return undefined;
  return { deleted: record.deleted_at !== undefined, userId: record.user_id };
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
    async isDeleted(conversationId, logger, read) {
      const known = deletionOf(read);
      if (known !== undefined && !known.deleted) return false;
      const tombstone = known === undefined ? await readTombstone(db, conversationId) : undefined;
      if (known === undefined && tombstone === undefined) return false;
      logger.info({ deleted_reason: tombstone?.reason }, "message for a deleted conversation: nothing stored");
      return true;
    },
    async sweepIfDeleted(conversationId, logger, read) {
      const known = deletionOf(read);
      if (known !== undefined && !known.deleted) return false;
      const tombstone = known === undefined ? await readTombstone(db, conversationId) : undefined;
      const userId = known?.userId ?? tombstone?.user_id;
      if (userId === undefined) return false;
      logger.warn(
        { deleted_reason: tombstone?.reason },
        "the conversation was deleted while this message was handled; purging again what it wrote",
      );
      await purgeAgain(conversationId, userId, logger);
      return true;
    },
  };
}
