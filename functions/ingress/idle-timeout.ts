/**
 * A conversation's idle timeout: once no audio arrived for the timeout, the conversation
 * is finalized with reason `idle_timeout`, through its socket when one is attached.
 */
import type { Logger } from "../../shared/logger";
import { ProtocolError } from "./protocol-error";

/**
 * Runs `onIdle` once no audio arrived for `timeoutMs`. Audio only moves the time of the
 * last audio; the one timer is re-armed lazily when it fires early, so a busy socket never
 * touches timers.
 */
export class IdleClock {
  private lastAudioAt: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly timeoutMs: number,
    private readonly onIdle: () => void,
    private readonly now: () => number = Date.now,
  ) {
    this.lastAudioAt = now();
  }

  /** Audio arrived: the idle clock restarts. */
  touch(): void {
    this.lastAudioAt = this.now();
  }

  /** Restarts the clock and runs it a whole timeout from now. */
  start(): void {
    this.touch();
    this.arm(this.timeoutMs);
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(delayMs: number): void {
    this.stop();
    this.timer = setTimeout(() => this.check(), Math.max(1, delayMs));
    this.timer.unref();
  }

  private check(): void {
    this.timer = undefined;
    const due = this.lastAudioAt + this.timeoutMs;
    const now = this.now();
    if (now < due) this.arm(due - now);
    else this.onIdle();
  }
}

/** What the idle timeout does to a conversation; a failure is logged, never thrown. */
export async function finalizeIdle(
  conversation: {
    readonly attached: { finalize(reason: "idle_timeout"): Promise<void> } | undefined;
    readonly logger: Logger;
    finalizeDetached(): Promise<number>;
  },
  idleTimeoutMs: number,
): Promise<void> {
  const socket = conversation.attached;
  const logger = conversation.logger;
  logger.info({ idle_timeout_ms: idleTimeoutMs, attached: socket !== undefined }, "idle timeout: finalizing");
  if (socket !== undefined) {
    await socket.finalize("idle_timeout");
    return;
  }
  try {
    await conversation.finalizeDetached();
  } catch (error) {
    if (error instanceof ProtocolError) {
      logger.info({ code: error.code }, `idle timeout: not finalized here (${error.message})`);
    } else {
      logger.error({ err: error }, "idle timeout: finalize failed");
    }
  }
}
