import { Err, Ok, type Operation, type Result } from "effection";
import { EffectOperation, OK } from "../core/effect-operation.js";
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
  return new UntilWithin(timers, ms, promise, timeout);
}

// An effect of its own rather than effection's action(), on the path of every
// publish: an action also wraps its executor in a Do() operation and makes a
// resolve, a reject and a discard closure per command.
class UntilWithin<R> extends EffectOperation<R> {
  constructor(
    private readonly timers: TimerSet,
    private readonly ms: number,
    private readonly promise: Promise<R>,
    private readonly timeout: () => Error,
  ) {
    super();
  }

  get description(): string {
    return "await a Redis command";
  }

  enter(resolve: (result: Result<R>) => void): (didExit: (result: Result<void>) => void) => void {
    const { timers } = this;
    let settled = false;
    const deadline = timers.add(timers.clock.now() + this.ms, () => {
      settled = true;
      resolve(Err(this.timeout()));
    });
    this.promise.then(
      (value) => {
        if (settled) return;
        settled = true;
        timers.cancel(deadline);
        resolve(Ok(value));
      },
      (error) => {
        if (settled) return;
        settled = true;
        timers.cancel(deadline);
        resolve(Err(error));
      },
    );
    return (didExit) => {
      if (!settled) {
        settled = true;
        timers.cancel(deadline);
      }
      didExit(OK);
    };
  }

  protected again(): UntilWithin<R> {
    return new UntilWithin(this.timers, this.ms, this.promise, this.timeout);
  }
}
