/**
 * The frames of one open socket, once `ready` was sent: audio frames checked
 * (shared/frame-checks.ts), held to the conversation's maximum audio, cut into chunks
 * (chunker.ts) and published; text messages parsed, held to the conversation's segment
 * quota and published as events; `finalize` handed to the session. Every refusal goes back
 * to the session as the protocol's error (it closes the socket).
 */
import { checkAudioFrame, parseClientText } from "../../shared/frame-checks";
import type { FinalIntent } from "../../shared/lifecycle";
import type { Logger } from "../../shared/logger";
import type { ErrorCode } from "../../shared/protocol";
import type { Chunker } from "./chunker";
import type { DurableCommits } from "./durable-commits";
import type { FinalizeReason, LiveConversation } from "./live-conversation";
import type { ProtocolError } from "./protocol-error";
import { frameUnits, tooMany } from "./user-limits";

export interface FrameIntakeDeps {
  readonly conversation: LiveConversation;
  readonly chunker: Chunker;
  readonly commits: DurableCommits;
  /** The stream position the conversation may not pass (`conversation_audio_seconds`), and that setting. */
  readonly audioLimit: { readonly units: number; readonly seconds: number };
  readonly logger: () => Logger;
  readonly refuse: (code: ErrorCode, message: string) => void;
  readonly refuseWith: (error: ProtocolError) => void;
  /** The client's `finalize`, or a finalize an earlier instance started (the session decides whether it runs). */
  readonly finalize: (reason: FinalizeReason) => void;
}

export class FrameIntake {
  constructor(private readonly deps: FrameIntakeDeps) {}

  audio(frame: Buffer): void {
    const { chunker, conversation, audioLimit } = this.deps;
    const check = checkAudioFrame(frame, conversation.format.codec, chunker.position);
    if (!check.ok) {
      this.deps.refuse(check.code, check.message);
      return;
    }
    if (check.empty) return;
    const units = frameUnits(conversation.format.codec, frame);
    if (chunker.position + units > audioLimit.units) {
      this.deps.refuseWith(
        tooMany(
          "conversation_audio_seconds",
          audioLimit.seconds,
          `the conversation reached its maximum audio at position ${chunker.position}: start a new conversation for the rest`,
        ),
      );
      return;
    }
    conversation.touch();
    const intent = conversation.finalIntent;
    if (intent !== undefined && chunker.position + units >= intent.final_position) {
      this.finalizeAtIntent(frame, units, intent);
      return;
    }
    this.push(frame, units);
  }

  text(data: Buffer): void {
    const parsed = parseClientText(data);
    if (!parsed.ok) {
      this.deps.refuse(parsed.code, parsed.message);
      return;
    }
    const message = parsed.message;
    switch (message.type) {
      case "segments": {
        const quota = this.deps.conversation.segmentQuota;
        if (quota !== undefined && !quota.admit(message.segments.map((segment) => segment.id))) {
          this.deps.refuseWith(
            tooMany(
              "conversation_segments",
              quota.limit,
              "this segments message would take the conversation past its maximum number of segments; nothing of it was stored",
            ),
          );
          return;
        }
        this.deps.commits.publishEvent({ type: "segments", segments: message.segments }, data.length);
        return;
      }
      case "speaker_assigned":
        this.deps.commits.publishEvent(
          { type: "speaker_assigned", person_id: message.person_id, segment_ids: message.segment_ids },
          data.length,
        );
        return;
      case "finalize":
        this.deps.finalize("client");
        return;
    }
  }

  private push(frame: Buffer, units: number): void {
    this.deps.commits.received(units);
    for (const chunk of this.deps.chunker.push(frame)) this.deps.commits.publishChunk(chunk);
  }

  /**
   * An earlier instance started a finalize at `intent.final_position` and died before it
   * recorded `finalizing` (lifecycle.ts `intendFinalize`); its partial final chunk may be
   * published. The stream is cut at the same place and finalized there, so that chunk is
   * the same whoever publishes it; audio past it is not stored, and the client hears the
   * final position.
   */
  private finalizeAtIntent(frame: Buffer, units: number, intent: FinalIntent): void {
    // pcm16 units are bytes; an Opus frame is one unit, so it is whole or not reached.
    const take = Math.max(0, intent.final_position - this.deps.chunker.position);
    if (take >= units) this.push(frame, units);
    else this.push(frame.subarray(0, take), take);
    this.deps
      .logger()
      .warn(
        { final_position: intent.final_position, reason: intent.reason, dropped_units: units - take },
        "resumed a conversation whose finalize an earlier instance started: finalizing where it cut",
      );
    this.deps.finalize(intent.reason);
  }
}
