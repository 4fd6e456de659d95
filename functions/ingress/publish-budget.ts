/**
 * The process-wide budget of chunk bytes waiting for Pub/Sub. Sockets add a chunk when it
 * is complete and release it when the publish settles; while the budget is exhausted,
 * sockets stop reading (TCP slows their clients) and wait to be told it has room again.
 */
export class PublishBudget {
  private used = 0;
  private readonly waiters = new Set<() => void>();

  constructor(readonly limitBytes: number) {}

  get usedBytes(): number {
    return this.used;
  }

  get exhausted(): boolean {
    return this.used >= this.limitBytes;
  }

  add(bytes: number): void {
    this.used += bytes;
  }

  release(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
    if (this.exhausted) return;
    for (const wake of [...this.waiters]) {
      this.waiters.delete(wake);
      wake();
      if (this.exhausted) break;
    }
  }

  /** Calls `wake` once, when the budget has room again. */
  whenAvailable(wake: () => void): void {
    this.waiters.add(wake);
  }

  cancel(wake: () => void): void {
    this.waiters.delete(wake);
  }
}
