import { type Operation, race } from "effection";
import { useClock } from "./clock.js";
import { TimeoutError } from "./errors.js";

/**
 * Runs `op`, failing with {@link TimeoutError} if it has not finished within
 * `ms` milliseconds on the clock in context. On timeout `op` is halted (and its
 * cleanup awaited) before the error is thrown. `Infinity` never times out.
 *
 * @example
 * ```ts
 * const body = yield* withTimeout(5_000, call(() => fetch(url).then((r) => r.text())));
 * ```
 */
export function* withTimeout<T>(ms: number, op: Operation<T>): Operation<T> {
  if (typeof ms !== "number" || Number.isNaN(ms) || ms < 0) {
    throw new TypeError(`withTimeout(ms): ms must be a number >= 0, got ${String(ms)}`);
  }
  if (ms === Number.POSITIVE_INFINITY) return yield* op;
  const clock = yield* useClock();
  return yield* race([
    op,
    (function* (): Operation<T> {
      yield* clock.sleep(ms);
      throw new TimeoutError(ms);
    })(),
  ]);
}
