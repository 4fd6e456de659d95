/**
 * The conversations this ingress instance holds, and the rule "one live socket per
 * conversation": opening a conversation that has a socket here first closes that socket
 * with 4001 (after its complete chunks are durable), then takes the record over. Opens of
 * one conversation run one at a time.
 *
 * Across instances the record's `active_session` decides: the instance that lost a
 * conversation learns it at its next write (conversation-store.ts) and closes its socket.
 */
import type { Logger } from "../../shared/logger";
import type { ConversationStore, ListedConversation, OpenedConversation, OpenIntent } from "./conversation-store";
import { type AttachedSocket, LiveConversation } from "./live-conversation";
import { ProtocolError } from "./protocol-error";
import type { IngressPublisher } from "./publisher";

export interface RegistryDeps {
  readonly store: ConversationStore;
  readonly publisher: IngressPublisher;
  readonly logger: Logger;
  readonly environment: string;
  readonly idleTimeoutMs: number;
}

/** What became of a conversation the orphan sweeper tried to finalize. */
export type OrphanOutcome =
  /** Finalized at its durable position. */
  | { kind: "finalized"; finalPosition: number }
  /** This instance serves it: its own idle timer decides. */
  | { kind: "held" }
  /** Its record changed since it was listed: an owner or a client is alive. */
  | { kind: "changed" }
  /** Adopted, but a client resumed it or it was finalized meanwhile. */
  | { kind: "moved_on"; code: string; message: string };

/**
 * The socket closed while its open waited: taking the conversation over now could take it
 * from a newer socket of the same client, which would then hear 4001 (the client resumes
 * after its own lost attempts, but nobody needs the race).
 */
export class AbandonedOpen extends Error {
  override readonly name = "AbandonedOpen";
}

export interface OpenResult {
  readonly conversation: LiveConversation;
  readonly opened: OpenedConversation;
}

export class ConversationRegistry {
  private readonly live = new Map<string, LiveConversation>();
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: RegistryDeps) {}

  get size(): number {
    return this.live.size;
  }

  conversations(): LiveConversation[] {
    return [...this.live.values()];
  }

  /** Opens (creates or takes over) the conversation of `intent` for `socket`. */
  async open(intent: OpenIntent, socket: AttachedSocket): Promise<OpenResult> {
    return await this.withLock(intent.conversationId, async () => {
      // Refuse (4403, 4409, 4410, 4415) before disturbing the socket that owns it now.
      await this.deps.store.inspect(intent);
      if (socket.abandoned()) throw new AbandonedOpen("the socket closed before it was opened");
      const existing = this.live.get(intent.conversationId);
      if (existing !== undefined) {
        const previous = existing.attached;
        if (previous !== undefined) await previous.supersede();
        await existing.finalizeSettled();
      }
      if (socket.abandoned()) throw new AbandonedOpen("the socket closed before it was opened");
      const current = this.live.get(intent.conversationId);
      const opened =
        current === undefined
          ? await this.deps.store.open(intent, socket.sessionId)
          : await current.serialize(() => this.deps.store.open(intent, socket.sessionId));
      let conversation = this.live.get(intent.conversationId);
      if (conversation === undefined) {
        conversation = new LiveConversation(opened, socket.sessionId, {
          ...this.deps,
          onGone: (gone) => {
            if (this.live.get(gone.id) === gone) this.live.delete(gone.id);
          },
        });
        this.live.set(intent.conversationId, conversation);
      }
      conversation.attach(socket, opened);
      return { conversation, opened };
    });
  }

  has(conversationId: string): boolean {
    return this.live.has(conversationId);
  }

  /**
   * The orphan sweeper: takes over a listed in-progress conversation that no instance
   * serves (as a resume would, conditional on the record being unchanged since it was
   * listed), then finalizes it like the detached idle timeout. Runs under the
   * conversation's lock, so a resume on this instance waits and then hears 4410.
   */
  async finalizeOrphan(listed: ListedConversation, sessionId: string): Promise<OrphanOutcome> {
    return await this.withLock(listed.conversationId, async (): Promise<OrphanOutcome> => {
      if (this.live.has(listed.conversationId)) return { kind: "held" };
      const opened = await this.deps.store.adopt(listed, sessionId);
      if (opened === undefined) return { kind: "changed" };
      const conversation = new LiveConversation(opened, sessionId, {
        ...this.deps,
        onGone: (gone) => {
          if (this.live.get(gone.id) === gone) this.live.delete(gone.id);
        },
      });
      this.live.set(listed.conversationId, conversation);
      try {
        return { kind: "finalized", finalPosition: await conversation.finalizeDetached() };
      } catch (error) {
        if (error instanceof ProtocolError) return { kind: "moved_on", code: error.code, message: error.message };
        throw error;
      }
    });
  }

  /** Shutdown: stop every idle timer; the conversations stay in progress in Firestore. */
  releaseAll(): void {
    for (const conversation of this.live.values()) conversation.release();
    this.live.clear();
  }

  private async withLock<T>(key: string, run: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(key) ?? Promise.resolve();
    const current = previous.then(run, run);
    const settled = current.catch(() => undefined);
    this.locks.set(key, settled);
    try {
      return await current;
    } finally {
      if (this.locks.get(key) === settled) this.locks.delete(key);
    }
  }
}
