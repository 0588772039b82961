/**
 * The wait before attempt `attempt + 1` of an alert, after `attempt` failed
 * ones: exponential (initialMs, 2x, 4x, ... up to maxMs) with "equal jitter"
 * (half fixed, half random), so many gateways that lost the same receiver
 * do not all come back at the same instant, yet none retries at once.
 */
export function retryDelayMs(
  attempt: number,
  retry: { initialMs: number; maxMs: number },
  random: () => number = Math.random,
): number {
  const exponent = Math.min(Math.max(attempt, 1) - 1, 40);
  const base = Math.min(retry.maxMs, retry.initialMs * 2 ** exponent);
  const half = base / 2;
  return Math.round(half + Math.min(Math.max(random(), 0), 1) * half);
}
