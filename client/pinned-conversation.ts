/**
 * What a session pins from the server's `ready` messages: the environment and the
 * conversation, which every later socket must reach again (ready-check.ts holds the rules a
 * `ready` must meet), the latest resume token, the chunk size and the current socket's
 * session id.
 */
import type { ReadyMessage } from "../shared/protocol";
import type { ReadyStage } from "./ready-check";

export class PinnedConversation {
  /** The environment the first `ready` named; every later socket must reach it too. */
  environment: string | undefined;
  /** The conversation's id: the one the app asked for, then the one the first `ready` named. */
  conversationId: string | undefined;
  /** The resume token of the latest `ready` (or the one the app passed in). */
  resumeToken: string | undefined;
  /** Units per chunk, as the server's `ready` announced. */
  chunkSize: number | undefined;
  /** The server's session id of the current socket. */
  sessionId: string | undefined;
  /** Some socket of this session received `ready`: a later `ready` is a reconnect. */
  everReady = false;
  /** The session was rebuilt from a store after an app restart. */
  private readonly restored: boolean;

  constructor(asked: { readonly conversationId?: string; readonly resumeToken?: string; readonly restored?: object }) {
    this.conversationId = asked.conversationId;
    this.resumeToken = asked.resumeToken;
    this.restored = Boolean(asked.restored);
  }

  /** Which `ready` of the session the next one is. */
  get stage(): ReadyStage {
    return this.everReady ? "reconnect" : this.restored ? "restored" : "first";
  }

  /** Takes the facts of a `ready` that passed ready-check.ts. */
  pin(ready: ReadyMessage): void {
    this.everReady = true;
    this.environment = ready.environment;
    this.conversationId = ready.conversation_id;
    this.sessionId = ready.session_id;
    this.resumeToken = ready.resume_token;
    this.chunkSize = ready.chunk_size;
  }
}
