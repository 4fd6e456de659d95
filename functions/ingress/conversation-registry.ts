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
import type { ConversationStore, OpenedConversation, OpenIntent } from "./conversation-store";
import { type AttachedSocket, LiveConversation } from "./live-conversation";
import type { IngressPublisher } from "./publisher";

export interface RegistryDeps {
  readonly store: ConversationStore;
  readonly publisher: IngressPublisher;
  readonly logger: Logger;
  readonly environment: string;
  readonly idleTimeoutMs: number;
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
      const existing = this.live.get(intent.conversationId);
      if (existing !== undefined) {
        const previous = existing.attached;
        if (previous !== undefined) await previous.supersede();
        await existing.finalizeSettled();
      }
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
