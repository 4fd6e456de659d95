/**
 * Waits for an eventually-true condition (a message pipeline through real Pub/Sub). The
 * deadline only bounds a hung test; nothing asserts how long anything took.
 */
export async function eventually<T>(
  probe: () => Promise<T | undefined | false>,
  what: string,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
  }
}
