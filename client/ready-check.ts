/**
 * Whether a socket's `ready` fits the conversation this client object streams, as a pure
 * function: the session (session.ts) gathers what it holds, asks here, and either goes on
 * from `ready.position` or stops with the returned error. Keeping the verdict apart from
 * the socket handling lets each rule be read, and tested, on its own.
 *
 * The rules, in the order they are checked:
 * - A socket must reach the environment and the conversation the earlier sockets reached
 *   (`environment_changed` otherwise): a conversation never drifts to another backend.
 * - The server must count positions in the unit the codec implies.
 * - The position must fit the audio this client holds:
 *   - first `ready` of a session rebuilt from a store: anywhere in the stored audio (the
 *     server may have made more durable than the store knew was acknowledged);
 *   - first `ready` otherwise: any position when nothing was written yet (the replay buffer
 *     then starts there), else exactly where the audio written before `ready` starts; and
 *     the replay buffer must hold two of the server's chunks;
 *   - a reconnect: between what was acknowledged and what was written.
 */
import { type Codec, MAX_OPUS_PACKET_BYTES, type PositionUnit } from "../shared/codecs";
import type { ReadyMessage } from "../shared/protocol";
import { TetherError } from "./errors";

/** Which `ready` of the client object this is. */
export type ReadyStage =
  /** The first, for a conversation this object started (or joined by id). */
  | "first"
  /** The first, for a conversation rebuilt from a store after an app restart. */
  | "restored"
  /** A later socket of the same conversation. */
  | "reconnect";

/** What the client object holds when a `ready` arrives. */
export interface ReadyContext {
  readonly stage: ReadyStage;
  /** The environment earlier sockets reached; undefined before the first `ready`. */
  readonly environment: string | undefined;
  /** The conversation earlier sockets reached, or the one the app asked for; undefined = a new one. */
  readonly conversationId: string | undefined;
  readonly codec: Codec;
  readonly positionUnit: PositionUnit;
  /** The replay buffer: the held audio [start, end), and its capacity. */
  readonly held: { readonly start: number; readonly end: number; readonly capacityBytes: number };
  /** Everything before this position was acknowledged by the server. */
  readonly acked: number;
}

export type ReadyVerdict =
  /** Go on from `ready.position`; `rebase`: the replay buffer, empty, starts there. */
  | { readonly ok: true; readonly rebase: boolean }
  /** Stop the session with `error` and close the socket. */
  | { readonly ok: false; readonly error: TetherError };

const accept = (rebase: boolean): ReadyVerdict => ({ ok: true, rebase });
const refuse = (error: TetherError): ReadyVerdict => ({ ok: false, error });

/** The bytes two chunks of `chunkSize` units can take: the least a replay buffer must hold. */
export function minimumReplayBytes(codec: Codec, chunkSize: number): number {
  return 2 * chunkSize * (codec === "pcm16" ? 1 : MAX_OPUS_PACKET_BYTES);
}

/** Judges one `ready` against what the client holds (see the rules above). */
export function checkReady(ready: ReadyMessage, context: ReadyContext): ReadyVerdict {
  const { held } = context;
  if (context.environment !== undefined && ready.environment !== context.environment) {
    return refuse(
      new TetherError(
        "environment_changed",
        `a reconnect reached environment ${ready.environment}, but this conversation lives in ${context.environment}`,
        { environment: ready.environment, expectedEnvironment: context.environment },
      ),
    );
  }
  if (context.conversationId !== undefined && ready.conversation_id !== context.conversationId) {
    return refuse(
      new TetherError(
        "environment_changed",
        `a reconnect reached conversation ${ready.conversation_id}, not ${context.conversationId}`,
      ),
    );
  }
  if (ready.position_unit !== context.positionUnit) {
    return refuse(
      new TetherError(
        "protocol_violation",
        `the server counts ${ready.position_unit}s, expected ${context.positionUnit}s`,
      ),
    );
  }
  switch (context.stage) {
    case "restored":
      if (ready.position < held.start || ready.position > held.end) {
        return refuse(
          new TetherError(
            "position_mismatch",
            `the server resumes at ${ready.position}, but the store holds [${held.start}, ${held.end}) with everything before ${held.start} acknowledged`,
          ),
        );
      }
      return accept(false);
    case "first": {
      const empty = held.end === held.start;
      if (!empty && ready.position !== held.start) {
        return refuse(
          new TetherError(
            "position_mismatch",
            `audio was written before \`ready\`, but the conversation resumes at ${ready.position}`,
          ),
        );
      }
      const minimum = minimumReplayBytes(context.codec, ready.chunk_size);
      if (held.capacityBytes < minimum) {
        return refuse(
          new TetherError(
            "protocol_violation",
            `the replay buffer (${held.capacityBytes} bytes) must hold at least two chunks (${minimum} bytes)`,
          ),
        );
      }
      return accept(empty);
    }
    case "reconnect":
      if (ready.position < context.acked || ready.position > held.end) {
        return refuse(
          new TetherError(
            "position_mismatch",
            `the server resumes at ${ready.position}, but this client holds [${held.start}, ${held.end}) with ${context.acked} acknowledged`,
          ),
        );
      }
      return accept(false);
  }
}
