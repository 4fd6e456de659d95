/**
 * The tests' one way to wait for an eventually-true condition (a message through real
 * Pub/Sub, a process starting or stopping). The deadline only bounds a hung test; nothing
 * asserts how long anything took.
 */
export interface PollOptions {
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
  /** Treat a probe that throws as "not yet" (a server still starting); the last error is reported. */
  readonly retryErrors?: boolean;
  /** What the last probe saw, for the timeout's message. */
  readonly describe?: () => string;
}

/** Polls `probe` until it returns a value other than `undefined` or `false`, and returns it. */
export async function eventually<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  what: string,
  options: PollOptions = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      if (!options.retryErrors) throw error;
      lastError = error;
    }
    if (Date.now() > deadline) {
      const cause = lastError === undefined ? "" : ` (last error: ${String(lastError)})`;
      const seen = options.describe === undefined ? "" : `: ${options.describe()}`;
      throw new Error(`gave up waiting for ${what}${cause}${seen}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
  }
}

/** Waits until a synchronous `condition` holds, checking often (a client's counters). */
export async function until(what: string, condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  await eventually(() => condition(), what, { timeoutMs, intervalMs: 5 });
}

/** Polls a conversation's API view until it is `finalized`; a timeout names the last view. */
export async function untilFinalized(view: () => Promise<Response>): Promise<void> {
  let body: { status?: string } = {};
  await eventually(
    async () => {
      body = (await (await view()).json()) as { status?: string };
      return body.status === "finalized";
    },
    "the conversation to finalize",
    { timeoutMs: 120_000, intervalMs: 250, describe: () => JSON.stringify(body) },
  );
}
