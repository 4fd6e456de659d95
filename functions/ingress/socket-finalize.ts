/**
 * A finalize through one socket (the client's `finalize`, or the idle timeout while it is
 * attached): once everything the socket received complete is durable, its partial chunk
 * becomes the conversation's final chunk, and the events confirmed so far are the
 * lifecycle's barrier (lifecycle.ts). Text arriving after the barrier froze is published,
 * and counted (`lateEvents`), before the client hears `finalized`.
 */
import type { Chunker } from "./chunker";
import type { ConversationStore } from "./conversation-store";
import type { DurableCommits } from "./durable-commits";
import type { FinalizeReason, LiveConversation } from "./live-conversation";
import type { SessionTags } from "./publisher";

export interface SocketFinalize {
  readonly chunker: Chunker;
  readonly conversation: LiveConversation;
  readonly commits: DurableCommits;
  readonly store: Pick<ConversationStore, "recordLateEvents">;
  readonly tags: SessionTags;
  readonly reason: FinalizeReason;
  /** False once the socket left `finalizing` (a publish or record write failed meanwhile). */
  readonly stillFinalizing: () => boolean;
}

/** The final position to announce, or undefined when the socket stopped finalizing meanwhile. */
export async function finalizeOnSocket(run: SocketFinalize): Promise<number | undefined> {
  const { chunker, conversation, commits, tags } = run;
  await commits.settled();
  if (!run.stillFinalizing()) return undefined;
  const finalChunk = chunker.takeFinal();
  const finalPosition = finalChunk?.end ?? chunker.position;
  let frozen = 0;
  const position = await conversation.finalize(
    {
      sessionId: tags.sessionId,
      finalPosition,
      finalChunk,
      reason: run.reason,
      eventsConfirmed: async () => {
        frozen = await commits.eventsSettled();
        return frozen;
      },
    },
    tags,
  );
  const confirmed = await commits.eventsSettled();
  if (confirmed > frozen) await run.store.recordLateEvents(tags.conversationId, tags.sessionId, confirmed);
  return run.stillFinalizing() ? position : undefined;
}
