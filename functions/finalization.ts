/**
 * The one finalization check, run by both workers: after the persist worker stores a
 * chunk and after the events worker records a finalize, whichever of the two happens
 * last. A conversation goes `finalizing` -> `finalized` once every chunk up to its
 * `final_position` is persisted; the worker whose transaction makes that flip publishes
 * the speaker-extraction request. Running the check twice, or concurrently, flips and
 * publishes once.
 */
import { FieldValue, type Firestore } from "@google-cloud/firestore";
import type { Topic } from "@google-cloud/pubsub";
import { chunksUpTo } from "../shared/audio-format";
import { type ChunkDoc, COLLECTIONS, type ConversationDoc, conversationRef } from "../shared/firestore-schema";
import type { Logger } from "../shared/logger";
import { type ExtractionAttributeStrings, SCHEMA_VERSION } from "../shared/messages";
import type { EnvironmentRuntime } from "./runtime";

export type ChunkCompleteness =
  | { readonly complete: true }
  | { readonly complete: false; readonly missing: readonly number[]; readonly problem?: string };

/**
 * Whether persisted chunks cover exactly [0, finalPosition): every index below
 * ceil(finalPosition / chunkSize) present, and the last one ending at `finalPosition`.
 */
export function chunkCompleteness(
  finalPosition: number,
  chunkSize: number,
  persisted: ReadonlyArray<Pick<ChunkDoc, "index" | "end">>,
): ChunkCompleteness {
  const expected = chunksUpTo(finalPosition, chunkSize);
  const byIndex = new Map(persisted.map((chunk) => [chunk.index, chunk]));
  const missing = expected.filter((range) => !byIndex.has(range.index)).map((range) => range.index);
  if (missing.length > 0) return { complete: false, missing };
  const last = expected.at(-1);
  const stored = last ? byIndex.get(last.index) : undefined;
  if (last && stored && stored.end !== last.end) {
    return {
      complete: false,
      missing: [last.index],
      problem: `chunk ${last.index} ends at ${stored.end}, but the conversation's final position is ${last.end}`,
    };
  }
  return { complete: true };
}

export type FinalizationOutcome =
  /** No conversation document (yet): nothing to finalize. */
  | "no_conversation"
  | "in_progress"
  | "waiting_for_chunks"
  /** This call flipped it and requested extraction. */
  | "finalized"
  | "already_finalized";

export interface Finalizer {
  completeIfReady(conversationId: string, logger: Logger): Promise<FinalizationOutcome>;
  /** Publishes a speaker-extraction request (also used when a late assignment arrives). */
  requestExtraction(conversationId: string, reason: ExtractionAttributeStrings["reason"]): Promise<string>;
}

async function persistedChunks(
  db: Firestore,
  conversationId: string,
  below: number,
): Promise<Array<Pick<ChunkDoc, "index" | "end">>> {
  if (below === 0) return [];
  const snapshot = await conversationRef(db, conversationId)
    .collection(COLLECTIONS.chunks)
    .where("index", "<", below)
    .select("index", "end")
    .get();
  return snapshot.docs.map((doc) => doc.data() as Pick<ChunkDoc, "index" | "end">);
}

export function createFinalizer(runtime: EnvironmentRuntime): Finalizer {
  const db = runtime.clients.firestore;
  const extractionTopic: Topic = runtime.clients.pubsub.topic(runtime.resources.topics.extraction);
  const environment = runtime.resources.environment;

  const requestExtraction: Finalizer["requestExtraction"] = async (conversationId, reason) => {
    const attributes: ExtractionAttributeStrings = {
      schema_version: SCHEMA_VERSION,
      environment,
      conversation_id: conversationId,
      reason,
    };
    return await extractionTopic.publishMessage({
      data: Buffer.from(JSON.stringify({ conversation_id: conversationId })),
      attributes,
    });
  };

  const completeIfReady: Finalizer["completeIfReady"] = async (conversationId, logger) => {
    const ref = conversationRef(db, conversationId);
    const snapshot = await ref.get();
    const conversation = snapshot.data() as ConversationDoc | undefined;
    if (!conversation) return "no_conversation";
    if (conversation.status === "finalized") return "already_finalized";
    if (conversation.status === "in_progress") return "in_progress";
    if (conversation.final_position === null) {
      logger.error({ status: conversation.status }, "conversation is finalizing without a final position");
      return "waiting_for_chunks";
    }
    const chunkSize = conversation.chunk_size;
    const finalPosition = conversation.final_position;
    const completeness = chunkCompleteness(
      finalPosition,
      chunkSize,
      await persistedChunks(db, conversationId, Math.ceil(finalPosition / chunkSize)),
    );
    if (!completeness.complete) {
      if (completeness.problem) logger.error({ final_position: finalPosition }, completeness.problem);
      return "waiting_for_chunks";
    }

    const flipped = await db.runTransaction(async (tx) => {
      const current = (await tx.get(ref)).data() as ConversationDoc | undefined;
      if (current?.status !== "finalizing") return false;
      tx.update(ref, {
        status: "finalized",
        finalized_at: FieldValue.serverTimestamp(),
        updated_at: FieldValue.serverTimestamp(),
        extraction_requested_at: null,
      });
      return true;
    });
    if (!flipped) return "already_finalized";

    let requestId: string;
    try {
      requestId = await requestExtraction(conversationId, "finalized");
    } catch (error) {
      // Undo the flip so that the redelivered message runs this check (and publishes) again.
      await db.runTransaction(async (tx) => {
        const current = (await tx.get(ref)).data() as ConversationDoc | undefined;
        if (current?.status === "finalized" && !current.extraction_requested_at) {
          tx.update(ref, { status: "finalizing", finalized_at: null, updated_at: FieldValue.serverTimestamp() });
        }
      });
      logger.error({ err: error }, "could not request speaker extraction; finalization will be retried");
      throw error;
    }
    await ref.update({ extraction_requested_at: FieldValue.serverTimestamp() });
    logger.info(
      {
        final_position: finalPosition,
        extraction_request_id: requestId,
        finalize_reason: conversation.finalize_reason,
      },
      "conversation finalized; speaker extraction requested",
    );
    return "finalized";
  };

  return { completeIfReady, requestExtraction };
}
