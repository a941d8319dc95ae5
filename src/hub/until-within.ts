import { action, type Operation } from "effection";
import type { TimerSet } from "../core/timer-set.js";

/**
 * Waits for a Redis command's `promise`, failing with `timeout()` after `ms`
 * on the clock of `timers`. The bound is a deadline in a shared
 * {@link TimerSet}, not a timer or a task of its own, so a process that sends
 * thousands of commands pays one heap entry each. The command itself is not
 * cancelled (Redis may still run it): the caller stops waiting.
 *
 * Internal to the Redis broker and the leader lease.
 *
 * @example
 * ```ts
 * const timers = createTimerSet(yield* useScope(), yield* useClock());
 * const reply = yield* untilWithin(timers, 1_000, redis.get("k"), () => new TimeoutError(1_000));
 * ```
 */
export function untilWithin<R>(
  timers: TimerSet,
  ms: number,
  promise: Promise<R>,
  timeout: () => Error,
): Operation<R> {
  return action<R>((resolve, reject) => {
    const deadline = timers.add(timers.clock.now() + ms, () => reject(timeout()));
    promise.then(
      (value) => {
        timers.cancel(deadline);
        resolve(value);
      },
      (error) => {
        timers.cancel(deadline);
        reject(error);
      },
    );
    return () => timers.cancel(deadline);
  });
}
