/** Exponential backoff settings shared by {@link supervise} and {@link retry}. */
export interface Backoff {
  /** Delay before the first retry, in ms. Default 100. */
  initialMs?: number;
  /** Upper bound of any delay, in ms. Default 30,000. */
  maxMs?: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
  /**
   * Random spread as a fraction of the delay: 0.2 means ±20 %. Default 0.2.
   * Jitter keeps many clients that failed together from retrying together.
   */
  jitter?: number;
}

/**
 * The delay before retry number `attempt` (0-based): `initialMs · factor^attempt`,
 * capped at `maxMs`, spread by ±`jitter`.
 *
 * @example
 * ```ts
 * backoffDelay(0, { initialMs: 100, jitter: 0 }); // 100
 * backoffDelay(3, { initialMs: 100, jitter: 0 }); // 800
 * ```
 */
export function backoffDelay(attempt: number, backoff: Backoff = {}, random = Math.random): number {
  const { initialMs = 100, maxMs = 30_000, factor = 2, jitter = 0.2 } = backoff;
  const base = Math.min(maxMs, initialMs * factor ** attempt);
  const spread = base * jitter * (random() * 2 - 1);
  return Math.max(0, Math.min(maxMs, base + spread));
}
