/**
 * The first step of deleting a conversation: its tombstone, written with the lifecycle's
 * `markDeleted` on the conversation record in one batch, conditional on the record being
 * unchanged since it was read (no transaction: the ingress writes this record with every
 * chunk). From that write on, the API answers 404, a resume hears 4410 `deleted`, a live
 * socket's next durable commit is refused (4410), and every worker stores nothing more.
 * The purge (./purge.ts) then removes the data; the tombstone stays for good.
 *
 * Idempotent: a second request finds the tombstone and changes nothing.
 */
import { type Firestore, Timestamp } from "@google-cloud/firestore";
import {
  CONVERTERS,
  conversationRef,
  readConversation,
  type TombstoneDoc,
  tombstoneRef,
} from "../../shared/firestore-schema";
import * as lifecycle from "../../shared/lifecycle";
import { untilUnchanged } from "../conditional-write";

export type DeletionRequest =
  | { readonly kind: "requested" | "already_deleted"; readonly tombstone: TombstoneDoc }
  | { readonly kind: "not_found" }
  /** The conversation (or its tombstone) belongs to another user. */
  | { readonly kind: "forbidden" };

/**
 * Writes the tombstone of `conversationId` (owned by `userId`, or by anyone when the
 * retention sweep asks), unless it exists.
 */
export async function requestDeletion(
  db: Firestore,
  conversationId: string,
  request: { readonly userId: string | undefined; readonly reason: TombstoneDoc["reason"] },
): Promise<DeletionRequest> {
  const tombRef = tombstoneRef(db, conversationId).withConverter(CONVERTERS.tombstone);
  return await untilUnchanged(`the tombstone of conversation ${conversationId}`, async () => {
    const [read, existing] = await Promise.all([
      readConversation(db, conversationId),
      readTombstone(db, conversationId),
    ]);
    if (existing !== undefined) {
      if (request.userId !== undefined && existing.user_id !== request.userId) return { kind: "forbidden" };
      return { kind: "already_deleted", tombstone: existing };
    }
    if (read === undefined) return { kind: "not_found" };
    const conversation = read.data;
    if (request.userId !== undefined && conversation.user_id !== request.userId) return { kind: "forbidden" };
    const now = Timestamp.now();
    const marked = lifecycle.markDeleted(conversation);
    const tombstone: TombstoneDoc = {
      conversation_id: conversationId,
      environment: conversation.environment,
      user_id: conversation.user_id,
      reason: request.reason,
      durable_position: conversation.durable_position,
      final_position: marked.final_position ?? conversation.final_position,
      requested_at: now,
      purged_at: null,
    };
    const batch = db.batch();
    batch.create(tombRef, tombstone);
    batch.update(
      conversationRef(db, conversationId),
      { ...marked, deleted_at: now, updated_at: now },
      { lastUpdateTime: read.updateTime },
    );
    await batch.commit();
    return { kind: "requested", tombstone };
  });
}

/** The tombstone of `conversationId`, if it was deleted. */
export async function readTombstone(db: Firestore, conversationId: string): Promise<TombstoneDoc | undefined> {
  return (await tombstoneRef(db, conversationId).withConverter(CONVERTERS.tombstone).get()).data();
}
