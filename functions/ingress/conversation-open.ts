/**
 * A socket coming to a conversation: creating its record, or taking an existing one over
 * (it becomes `active_session`) after checking the socket may use it, and recording the
 * socket's session, in one commit conditional on the record as read (../conditional-write.ts).
 */
import { FieldValue, type Firestore, type Timestamp } from "@google-cloud/firestore";
import type { Codec, SampleRate } from "../../shared/audio-format";
import type { EnvironmentName } from "../../shared/environment";
import { type ConversationDoc, conversationRef, type SessionDoc, sessionRef } from "../../shared/firestore-schema";
import { GrpcStatus, hasGrpcStatus } from "../../shared/grpc-error";
import * as lifecycle from "../../shared/lifecycle";
import { RoundFailed, untilUnchanged } from "../conditional-write";
import { ProtocolError } from "./protocol-error";
import {
  finalizedDetails,
  readStored,
  refuseIfDeleted,
  type StoredConversation,
  unknownConversation,
} from "./stored-conversation";

/** How a socket came to a conversation. */
export type OpenKind =
  /** No id given: the server minted one. */
  | "new"
  /** A client-chosen `conversation_id` without a resume token: created, or resumed if it is the caller's. */
  | "client_id"
  /** A verified resume token of this environment. */
  | "resume";

export interface OpenIntent {
  readonly kind: OpenKind;
  readonly conversationId: string;
  readonly userId: string;
  readonly codec: Codec;
  readonly sampleRate: SampleRate;
  /** Chunk size for a conversation created now; an existing one keeps its own. */
  readonly chunkSize: number;
}

export interface OpenedConversation {
  readonly conversationId: string;
  readonly userId: string;
  readonly codec: Codec;
  readonly sampleRate: SampleRate;
  readonly chunkSize: number;
  readonly durablePosition: number;
  /** This socket's ordinal in the conversation (1 for the first). */
  readonly sessionOrdinal: number;
  /** Where a finalize that an earlier instance started cuts the stream (lifecycle.ts `intendFinalize`). */
  readonly finalIntent?: lifecycle.FinalIntent;
  readonly created: boolean;
  /** The record's update time after this open: the precondition of the next write. */
  readonly updateTime: Timestamp;
}

export interface ConversationStoreHooks {
  /** Runs before a conversation is created (the per-minute limit); throws to refuse it. */
  readonly beforeCreate?: (intent: OpenIntent) => Promise<void>;
}

/** What the ingress's conversation writes share: the database, its environment and its clock. */
export interface RecordContext {
  readonly db: Firestore;
  readonly environment: EnvironmentName;
  readonly now: () => Timestamp;
  readonly hooks: ConversationStoreHooks;
}

/**
 * Checks that `intent` may use an existing record; throws the protocol's answer if not.
 * Order: another environment's record (4409), another user's (4403), over (4410), format (4415).
 */
export function checkExisting(ctx: RecordContext, stored: StoredConversation, intent: OpenIntent): void {
  if (stored.environment !== ctx.environment) {
    throw new ProtocolError(
      "wrong_environment",
      `conversation ${intent.conversationId} belongs to environment ${stored.environment}`,
      { environment: ctx.environment, expected_environment: stored.environment },
    );
  }
  if (stored.user_id !== intent.userId) {
    throw new ProtocolError("forbidden", `conversation ${intent.conversationId} belongs to another user`);
  }
  if (stored.status !== "in_progress") {
    throw new ProtocolError(
      "conversation_finalized",
      `conversation ${intent.conversationId} is ${stored.status}: start a new conversation`,
      finalizedDetails(stored),
    );
  }
  if (stored.codec !== intent.codec || stored.sample_rate !== intent.sampleRate) {
    throw new ProtocolError(
      "bad_audio",
      `conversation ${intent.conversationId} was started as ${stored.codec} at ${stored.sample_rate} Hz; reconnect with the same codec and sample_rate`,
    );
  }
}

/** Reads and checks the record an open would use (before taking a socket away from it). */
export async function inspect(ctx: RecordContext, intent: OpenIntent): Promise<void> {
  if (intent.kind === "new") return;
  const read = await readStored(ctx.db, intent.conversationId);
  if (read === undefined) {
    await refuseIfDeleted(ctx.db, intent.conversationId);
    if (intent.kind === "resume") throw unknownConversation(intent.conversationId);
    return;
  }
  checkExisting(ctx, read.data, intent);
}

/** Creates or takes over the conversation for socket `sessionId`, and records the session. */
export async function open(ctx: RecordContext, intent: OpenIntent, sessionId: string): Promise<OpenedConversation> {
  const ref = conversationRef(ctx.db, intent.conversationId);
  return await untilUnchanged(`conversation ${intent.conversationId}, opened by a socket,`, async () => {
    const read = intent.kind === "new" ? undefined : await readStored(ctx.db, intent.conversationId);
    if (read === undefined) {
      // A deleted conversation's id is never used again, not even by the client that chose it.
      if (intent.kind !== "new") await refuseIfDeleted(ctx.db, intent.conversationId);
      if (intent.kind === "resume") throw unknownConversation(intent.conversationId);
      try {
        return await create(ctx, intent, sessionId);
      } catch (error) {
        // A client-chosen id created concurrently by another socket: a lost race, read it and resume.
        // Anything else stands: a minted id is never taken over, and the hook's refusal is final.
        if (hasGrpcStatus(error, GrpcStatus.ALREADY_EXISTS) && intent.kind === "client_id") throw error;
        throw new RoundFailed(error);
      }
    }
    const stored = read.data;
    checkExisting(ctx, stored, intent);
    const now = ctx.now();
    const batch = ctx.db.batch();
    const opened = lifecycle.openSession(stored, sessionId);
    const evictedFields = Object.fromEntries(
      opened.evicted.map(({ sessionId: old }) => [`events_recorded.${old}`, FieldValue.delete()]),
    );
    batch.update(
      ref,
      { active_session: sessionId, updated_at: now, ...opened.fields, ...evictedFields },
      { lastUpdateTime: read.updateTime },
    );
    batch.create(
      sessionRef(ctx.db, intent.conversationId, sessionId),
      sessionDoc(sessionId, stored.durable_position, now),
    );
    // The counts leaving the record move to their sessions' documents, in the same commit.
    for (const { sessionId: old, count } of opened.evicted) {
      batch.set(sessionRef(ctx.db, intent.conversationId, old), { events_recorded: count }, { merge: true });
    }
    const [result] = await batch.commit();
    if (result === undefined) throw new Error("Firestore returned no write result");
    return takenOver(intent.conversationId, stored, opened.fields.sessions_opened, result.writeTime);
  });
}

/** What a socket (or the sweeper) that took `stored` over continues from. */
export function takenOver(
  conversationId: string,
  stored: StoredConversation,
  sessionOrdinal: number,
  updateTime: Timestamp,
): OpenedConversation {
  return {
    conversationId,
    userId: stored.user_id,
    codec: stored.codec,
    sampleRate: stored.sample_rate,
    chunkSize: stored.chunk_size,
    durablePosition: stored.durable_position,
    sessionOrdinal,
    ...(stored.final_intent ? { finalIntent: stored.final_intent } : {}),
    created: false,
    updateTime,
  };
}

async function create(ctx: RecordContext, intent: OpenIntent, sessionId: string): Promise<OpenedConversation> {
  await ctx.hooks.beforeCreate?.(intent);
  const now = ctx.now();
  const doc: ConversationDoc = {
    id: intent.conversationId,
    environment: ctx.environment,
    user_id: intent.userId,
    codec: intent.codec,
    sample_rate: intent.sampleRate,
    channels: 1,
    chunk_size: intent.chunkSize,
    durable_position: 0,
    status: "in_progress",
    final_position: null,
    finalize_reason: null,
    created_at: now,
    updated_at: now,
    finalized_at: null,
    active_session: sessionId,
    sessions_opened: 1,
    events_recorded: {},
    events_recorded_order: [sessionId],
    extraction_generation: 0,
    extraction_requested_generation: 0,
  };
  const batch = ctx.db.batch();
  batch.create(conversationRef(ctx.db, intent.conversationId), doc);
  batch.create(sessionRef(ctx.db, intent.conversationId, sessionId), sessionDoc(sessionId, 0, now));
  const [result] = await batch.commit();
  if (result === undefined) throw new Error("Firestore returned no write result");
  return {
    conversationId: intent.conversationId,
    userId: intent.userId,
    codec: intent.codec,
    sampleRate: intent.sampleRate,
    chunkSize: intent.chunkSize,
    durablePosition: 0,
    sessionOrdinal: 1,
    created: true,
    updateTime: result.writeTime,
  };
}

function sessionDoc(sessionId: string, startPosition: number, now: Timestamp): SessionDoc {
  return { session_id: sessionId, start_position: startPosition, started_at: now, ended_at: null, close_code: null };
}
