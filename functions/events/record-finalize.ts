/**
 * A finalize event (client `finalize` or the ingress's idle timeout) moves the
 * conversation to `finalizing` with its final position, unless the ingress already did.
 * The first final position recorded stands; completing the finalization is the shared
 * check in functions/finalization.ts.
 */
import { FieldValue, type Firestore } from "@google-cloud/firestore";
import { type ConversationDoc, conversationRef } from "../../shared/firestore-schema";

export type FinalizeRecord =
  /** No conversation document: the finalize cannot be applied yet (retried). */
  | { readonly kind: "no_conversation" }
  | { readonly kind: "recorded" }
  | { readonly kind: "already_recorded" }
  /** Finalizing or finalized at another position; the stored one stands. */
  | { readonly kind: "different_final_position"; readonly stored: number | null }
  | { readonly kind: "already_finalized" };

export async function recordFinalize(
  db: Firestore,
  conversationId: string,
  finalPosition: number,
  reason: "client" | "idle_timeout",
): Promise<FinalizeRecord> {
  const ref = conversationRef(db, conversationId);
  return await db.runTransaction(async (tx): Promise<FinalizeRecord> => {
    const conversation = (await tx.get(ref)).data() as ConversationDoc | undefined;
    if (!conversation) return { kind: "no_conversation" };
    if (conversation.status === "finalized") {
      return conversation.final_position === finalPosition
        ? { kind: "already_finalized" }
        : { kind: "different_final_position", stored: conversation.final_position };
    }
    if (conversation.status === "finalizing" && conversation.final_position !== null) {
      return conversation.final_position === finalPosition
        ? { kind: "already_recorded" }
        : { kind: "different_final_position", stored: conversation.final_position };
    }
    tx.update(ref, {
      status: "finalizing",
      final_position: finalPosition,
      finalize_reason: conversation.finalize_reason ?? reason,
      updated_at: FieldValue.serverTimestamp(),
    });
    return { kind: "recorded" };
  });
}
