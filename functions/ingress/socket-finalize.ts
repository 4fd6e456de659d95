/**
 * A finalize through one socket (the client's `finalize`, or the idle timeout while it is
 * attached): once everything the socket received complete is durable, its partial chunk
 * becomes the conversation's final chunk, and the events confirmed so far are the
 * lifecycle's barrier (lifecycle.ts). Text arriving after the barrier froze is published,
 * and counted (`lateEvents`), before the client hears `finalized`. `SocketFinalizer` is the
 * socket's side of it (socket-session.ts lends it the socket): `open` -> `finalizing` ->
 * `finalized` sent and closing with 1000.
 */
import { CLOSE_FINALIZED } from "../../shared/protocol";
import type { SocketBackpressure } from "./backpressure";
import type { Chunker } from "./chunker";
import type { ConversationStore } from "./conversation-store";
import type { DurableCommits } from "./durable-commits";
import type { FinalizeReason, LiveConversation } from "./live-conversation";
import { ProtocolError } from "./protocol-error";
import type { SessionTags } from "./publisher";
import type { IngressSocket } from "./socket";
import type { OpenedSocket } from "./socket-opening";
import type { SocketState } from "./socket-state";

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

/** What a socket lends its finalize (socket-session.ts). */
export interface FinalizeHost {
  readonly socket: Pick<IngressSocket, "sendJson" | "close">;
  readonly backpressure: Pick<SocketBackpressure, "readToClose">;
  readonly store: Pick<ConversationStore, "recordLateEvents">;
  state(): SocketState;
  enter(state: "finalizing" | "closing"): void;
  /** The conversation and the socket's parts, once opened. */
  opened(): { readonly conversation: LiveConversation; readonly open: OpenedSocket } | undefined;
  refuseWith(error: ProtocolError): void;
  fail(error: unknown, context: string): void;
}

export class SocketFinalizer {
  private done: Promise<void> | undefined;
  /** `finalized` was sent: text still arriving is published, not dropped. */
  sent = false;

  constructor(private readonly host: FinalizeHost) {}

  /** The finalize under way (or done), if one started. */
  get running(): Promise<void> | undefined {
    return this.done;
  }

  /** Client `finalize`, or the idle timeout while the socket is attached; once per socket. */
  start(reason: FinalizeReason): Promise<void> {
    if (this.host.state() !== "open") return this.done ?? Promise.resolve();
    this.host.enter("finalizing");
    this.done = this.run(reason);
    return this.done;
  }

  private async run(reason: FinalizeReason): Promise<void> {
    const { host } = this;
    const opened = host.opened();
    if (opened === undefined) return;
    const { conversation, open } = opened;
    try {
      const position = await finalizeOnSocket({
        chunker: open.chunker,
        conversation,
        commits: open.commits,
        store: host.store,
        tags: open.commits.tags,
        reason,
        stillFinalizing: () => host.state() === "finalizing",
      });
      if (position === undefined) return;
      open.commits.sendAck(position);
      host.socket.sendJson({ type: "finalized", conversation_id: open.commits.tags.conversationId, position });
      this.sent = true;
      host.enter("closing");
      host.backpressure.readToClose(); // frames still arriving are dropped: the state is `closing`
      host.socket.close(CLOSE_FINALIZED);
    } catch (error) {
      if (error instanceof ProtocolError) host.refuseWith(error);
      else host.fail(error, "finalize failed");
    }
  }
}
