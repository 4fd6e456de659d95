/**
 * The promises a session hands the app: `start()` (settled at the first `ready`, or the
 * terminal error) and every `finalize()` (settled at `finalized`, or the terminal error).
 */
import type { TetherError } from "./errors";
import type { FinalizeResult } from "./session-events";

export class SessionWaiters {
  private start: { resolve: () => void; reject: (e: TetherError) => void } | undefined;
  private finalize: Array<{ resolve: (r: FinalizeResult) => void; reject: (e: TetherError) => void }> = [];

  /** The promise `start()` returns. */
  untilStarted(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.start = { resolve, reject };
    });
  }

  /** A promise `finalize()` returns; rejected at once when the session already stopped on `terminal`. */
  untilFinalized(terminal: TetherError | undefined): Promise<FinalizeResult> {
    return new Promise<FinalizeResult>((resolve, reject) => {
      if (terminal) reject(terminal);
      else this.finalize.push({ resolve, reject });
    });
  }

  started(): void {
    const starting = this.start;
    this.start = undefined;
    starting?.resolve();
  }

  /** Every `finalize()` resolves; so does `start()` (a restored session may learn at once that it is finalized). */
  finalized(result: FinalizeResult): void {
    for (const waiter of this.finalize.splice(0)) waiter.resolve(result);
    this.started();
  }

  stopped(error: TetherError): void {
    for (const waiter of this.finalize.splice(0)) waiter.reject(error);
    const starting = this.start;
    this.start = undefined;
    starting?.reject(error);
  }
}
