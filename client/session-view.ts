/**
 * What the app reads of a TetherSession (session.ts): the format it opened with, the
 * conversation the server's `ready` pinned, its counters and its terminal error. Only state
 * and read access live here; everything the session does is in session.ts.
 */
import { type Codec, type PositionUnit, positionUnit, type SampleRate } from "../shared/codecs";
import { TypedEmitter } from "./emitter";
import type { TetherError } from "./errors";
import { Outbox } from "./outbox";
import { PinnedConversation } from "./pinned-conversation";
import type { SessionConfig, SessionEvents, SessionStats } from "./session-events";

export abstract class SessionView extends TypedEmitter<SessionEvents> {
  /** The ingress URL, pinned for the life of the session. */
  readonly url: string;
  readonly codec: Codec;
  readonly sampleRate: SampleRate;
  readonly positionUnit: PositionUnit;
  /** The environment, conversation, resume token, ... the server's `ready` messages named. */
  protected readonly pinned: PinnedConversation;
  /** The audio and text messages held until the server acknowledged them. */
  protected readonly outbox: Outbox;
  protected reconnectCount = 0;
  protected handoverCount = 0;
  protected terminal: TetherError | undefined;

  constructor(config: SessionConfig) {
    super();
    this.url = config.url;
    this.codec = config.codec;
    this.sampleRate = config.sampleRate;
    this.positionUnit = positionUnit(config.codec);
    this.pinned = new PinnedConversation(config);
    this.outbox = new Outbox(config);
  }

  /** The environment the server reported in `ready` (the "you are on staging" banner reads this). */
  get environment(): string {
    if (this.pinned.environment === undefined) throw new Error("the session has not received `ready` yet");
    return this.pinned.environment;
  }

  get conversationId(): string {
    if (this.pinned.conversationId === undefined) throw new Error("the session has not received `ready` yet");
    return this.pinned.conversationId;
  }

  /** Session id of the current socket. */
  get sessionId(): string | undefined {
    return this.pinned.sessionId;
  }

  /** The latest resume token: keep it to resume this conversation after an app restart. */
  get resumeToken(): string | undefined {
    return this.pinned.resumeToken;
  }

  get chunkSize(): number | undefined {
    return this.pinned.chunkSize;
  }

  get stats(): SessionStats {
    return {
      written: this.outbox.buffer.end,
      sent: this.outbox.audio.carried,
      acked: this.outbox.audio.acked,
      reconnects: this.reconnectCount,
      handovers: this.handoverCount,
      bufferedBytes: this.outbox.buffer.bytes,
    };
  }

  /** The terminal error, once the session stopped on one. */
  get error(): TetherError | undefined {
    return this.terminal;
  }
}
