/**
 * Deliveries that did not go the common way, recorded against their conversation for its
 * history (`GET /v1/conversations/{id}/history`): a chunk delivered again after it was
 * stored, and a message dead-lettered. Written only on those rare paths, so the common path
 * (one delivery per chunk) pays nothing; a redelivery costs one read and one write.
 *
 * Best effort: a record that cannot be written is logged, and the delivery goes on as if it
 * had been. Only a conversation this environment holds gets records (a dead letter of
 * another environment's names a conversation that does not exist here), and the deletion
 * guard runs after the write, so a record never outlives its conversation's purge.
 */
import { FieldValue } from "@google-cloud/firestore";
import { COLLECTIONS, conversationRef, type DeliveryDoc, readConversation } from "../shared/firestore-schema";
import { GrpcStatus, hasGrpcStatus } from "../shared/grpc-error";
import { conversationIdSchema } from "../shared/identifiers";
import type { Logger } from "../shared/logger";
import { paddedChunkIndex } from "../shared/storage-paths";
import type { EnvironmentRuntime } from "./runtime";

export type DeliveryFacts = Omit<DeliveryDoc, "count" | "first_at" | "last_at">;

/** The record's id: one per chunk for redeliveries (they count up), one per message for dead letters. Pure. */
export function deliveryKey(facts: DeliveryFacts, messageId: string): string {
  return facts.kind === "redelivered" && facts.chunk_index !== undefined
    ? `redelivered-chunk-${paddedChunkIndex(facts.chunk_index)}`
    : `${facts.kind}-${messageId}`;
}

export interface DeliveryRecorder {
  record(conversationId: string | undefined, messageId: string, facts: DeliveryFacts, logger: Logger): Promise<void>;
}

/** What a record needs of the worker's deletion guard (deletion/guard.ts): the sweep after a write. */
export interface SweepAfterWrite {
  sweepIfDeleted(conversationId: string, logger: Logger): Promise<unknown>;
}

export function createDeliveryRecorder(runtime: EnvironmentRuntime, guard: SweepAfterWrite): DeliveryRecorder {
  const db = runtime.clients.firestore;
  const environment = runtime.resources.environment;
  return {
    async record(conversationId, messageId, facts, logger) {
      if (!conversationIdSchema.safeParse(conversationId).success || conversationId === undefined) return;
      try {
        const conversation = (await readConversation(db, conversationId))?.data;
        if (conversation?.environment !== environment || conversation.deleted_at !== undefined) return;
        const ref = conversationRef(db, conversationId)
          .collection(COLLECTIONS.deliveries)
          .doc(deliveryKey(facts, messageId));
        const now = FieldValue.serverTimestamp();
        try {
          await ref.create({ ...facts, count: 1, first_at: now, last_at: now });
        } catch (error) {
          if (!hasGrpcStatus(error, GrpcStatus.ALREADY_EXISTS)) throw error;
          await ref.update({ count: FieldValue.increment(1), last_at: now });
        }
        await guard.sweepIfDeleted(conversationId, logger);
      } catch (error) {
        logger.warn({ err: error, delivery_kind: facts.kind }, "could not record the delivery in the history");
      }
    },
  };
}
