/**
 * Polls `condition` until it holds, failing after `timeoutMs` with what was
 * awaited. The one wait helper of the test suite and the benchmarks: real
 * transports answer on their own schedule, so tests wait for a state, never
 * for a fixed time.
 */
export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  opts: { timeoutMs?: number; what?: string; everyMs?: number } = {},
): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what ?? 'a condition'}`);
    }
    await new Promise((r) => setTimeout(r, opts.everyMs ?? 10));
  }
}
