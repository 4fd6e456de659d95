/**
 * What a socket leaves behind when it closed: its log lines (frames it dropped, its close),
 * its per-user socket lease, and the end of its session in the conversation's record. The
 * last two are best effort: a failure is logged, and the lease expires on its own.
 */
import type { Logger } from "../../shared/logger";
import type { ConversationStore } from "./conversation-store";
import type { SocketState } from "./socket-state";
import type { UserLimitsGate } from "./user-limits";

export interface SocketClose {
  readonly code: number;
  readonly sessionId: string;
  /** The state the socket was in when it closed. */
  readonly state: SocketState;
  readonly acked: number;
  /** Frames received after it began closing, and before `ready` (never taken in). */
  readonly framesDroppedAfterStop: number;
  readonly framesDroppedBeforeReady: number;
  /** The conversation it carried, if it got that far, and the reason of its `goaway`, if any. */
  readonly conversationId: string | undefined;
  readonly goaway: string | undefined;
  readonly logger: Logger;
  readonly userLimits: Pick<UserLimitsGate, "releaseSocket">;
  readonly store: Pick<ConversationStore, "endSession">;
}

export function recordSocketClose(close: SocketClose): void {
  const { logger } = close;
  if (close.framesDroppedAfterStop > 0) {
    logger.info(
      { frames: close.framesDroppedAfterStop },
      "frames received after the socket began closing were dropped",
    );
  }
  if (close.framesDroppedBeforeReady > 0) {
    logger.info(
      { frames: close.framesDroppedBeforeReady },
      "frames received before ready were dropped: the socket closed first",
    );
  }
  logger.info({ close_code: close.code, acked: close.acked, state: close.state }, "socket closed");
  close.userLimits.releaseSocket(close.sessionId).catch((error: unknown) => {
    logger.warn({ err: error }, "could not release the socket's lease: it counts until it expires");
  });
  if (close.conversationId !== undefined) {
    close.store.endSession(close.conversationId, close.sessionId, close.code, close.goaway).catch((error: unknown) => {
      logger.warn({ err: error }, "could not record the end of the session");
    });
  }
}
