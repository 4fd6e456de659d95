/**
 * The parts of a socket that exist once its conversation is opened: frames that came before
 * `ready` (held, then taken in order), the `ready` message, and the chunker, commits
 * (durable-commits.ts) and intake (frame-intake.ts) wired to the session that owns them.
 */
import { positionUnit } from "../../shared/audio-format";
import type { EnvironmentName } from "../../shared/environment";
import type { Logger } from "../../shared/logger";
import { PROTOCOL_VERSION, type ReadyMessage } from "../../shared/protocol";
import { Chunker } from "./chunker";
import type { OpenedConversation } from "./conversation-store";
import { DurableCommits, type DurableCommitsDeps } from "./durable-commits";
import { FrameIntake, type FrameIntakeDeps } from "./frame-intake";
import type { LiveConversation } from "./live-conversation";
import type { PublishBudget } from "./publish-budget";
import type { IngressPublisher } from "./publisher";
import type { IngressSocket } from "./socket";

/** Frames received before `ready`, in order, with their size (the socket is paused at a limit). */
export class EarlyFrames {
  private frames: Array<{ data: Buffer; isBinary: boolean }> = [];
  private heldBytes = 0;

  get count(): number {
    return this.frames.length;
  }

  /** Holds a frame; returns the bytes held now. */
  hold(data: Buffer, isBinary: boolean): number {
    this.frames.push({ data, isBinary });
    this.heldBytes += data.length;
    return this.heldBytes;
  }

  /** Everything held, emptied. */
  take(): Array<{ data: Buffer; isBinary: boolean }> {
    const frames = this.frames;
    this.frames = [];
    this.heldBytes = 0;
    return frames;
  }
}

export function readyMessage(
  environment: EnvironmentName,
  sessionId: string,
  opened: OpenedConversation,
  resumeToken: string,
): ReadyMessage {
  return {
    type: "ready",
    protocol: PROTOCOL_VERSION,
    environment,
    conversation_id: opened.conversationId,
    session_id: sessionId,
    resume_token: resumeToken,
    position_unit: positionUnit(opened.codec),
    position: opened.durablePosition,
    chunk_size: opened.chunkSize,
  };
}

export interface OpenedSocket {
  readonly chunker: Chunker;
  readonly commits: DurableCommits;
  readonly intake: FrameIntake;
}

export interface OpenedSocketWiring
  extends Pick<DurableCommitsDeps, "load" | "failed" | "lost">,
    Pick<FrameIntakeDeps, "audioLimit" | "refuse" | "refuseWith" | "finalize"> {
  readonly socket: IngressSocket;
  readonly environment: EnvironmentName;
  readonly sessionId: string;
  readonly publisher: IngressPublisher;
  readonly budget: PublishBudget;
  readonly logger: () => Logger;
}

/** The chunker, commits and intake of `conversation` on this socket, from its durable position on. */
export function openedSocket(
  conversation: LiveConversation,
  opened: OpenedConversation,
  wiring: OpenedSocketWiring,
): OpenedSocket {
  const chunker = new Chunker(opened.codec, opened.chunkSize, opened.durablePosition);
  const commits = new DurableCommits({
    socket: wiring.socket,
    publisher: wiring.publisher,
    budget: wiring.budget,
    conversation,
    tags: {
      environment: wiring.environment,
      conversationId: opened.conversationId,
      userId: opened.userId,
      sessionId: wiring.sessionId,
      sessionOrdinal: opened.sessionOrdinal,
    },
    durablePosition: opened.durablePosition,
    logger: wiring.logger,
    load: wiring.load,
    failed: wiring.failed,
    lost: wiring.lost,
  });
  const intake = new FrameIntake({
    conversation,
    chunker,
    commits,
    audioLimit: wiring.audioLimit,
    logger: wiring.logger,
    refuse: wiring.refuse,
    refuseWith: wiring.refuseWith,
    finalize: wiring.finalize,
  });
  return { chunker, commits, intake };
}
