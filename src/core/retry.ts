import type { Operation } from "effection";
import { type Backoff, backoffDelay } from "./backoff.js";
import { useClock } from "./clock.js";

/** Options of {@link retry}. */
export interface RetryOptions {
  /** How many attempts in all (the first one included). Default 3. */
  attempts?: number;
  /** Delay between attempts. Default: 100 ms doubling, ±20 % jitter. */
  backoff?: Backoff;
  /** Retry only errors for which this returns true. Default: every error. */
  retryIf?: (error: unknown, attempt: number) => boolean;
}

/**
 * Runs the operation made by `factory`, and runs a fresh one after each
 * failure, up to `attempts` times in all, sleeping an exponential backoff
 * between attempts on the clock in context. Throws the last error when the
 * attempts run out or `retryIf` says no. A halt is never retried.
 *
 * @example
 * ```ts
 * const user = yield* retry(() => call(() => api.getUser(id)), {
 *   attempts: 5,
 *   backoff: { initialMs: 200 },
 *   retryIf: (error) => (error as { status?: number }).status === 503,
 * });
 * ```
 */
export function* retry<T>(
  factory: (attempt: number) => Operation<T>,
  options: RetryOptions = {},
): Operation<T> {
  const { attempts = 3, backoff, retryIf = () => true } = options;
  if (!Number.isInteger(attempts) || attempts < 1) {
    throw new TypeError(`retry: attempts must be an integer >= 1, got ${String(attempts)}`);
  }
  const clock = yield* useClock();
  for (let attempt = 0; ; attempt++) {
    try {
      return yield* factory(attempt);
    } catch (error) {
      if (attempt + 1 >= attempts || !retryIf(error, attempt)) throw error;
    }
    yield* clock.sleep(backoffDelay(attempt, backoff));
  }
}
