import { action, createContext, type Operation } from "effection";

/**
 * The source of time for everything in bough: sleeps, tickers, timeouts,
 * backoff. Put a different clock in context (for example the virtual clock from
 * `bough/testing`) and every bough delay below that scope follows it.
 */
export interface Clock {
  /** The current time in milliseconds on a monotonic timeline. */
  now(): number;
  /** Suspend the calling task for `ms` milliseconds. */
  sleep(ms: number): Operation<void>;
  /** Suspend the calling task until `now() >= time`. */
  sleepUntil(time: number): Operation<void>;
}

/**
 * The real clock: `performance.now()` for time and `setTimeout` for sleeps.
 * `sleepUntil` re-checks the time on wake-up, so a timer that fires a little
 * early never ends the sleep early.
 *
 * @example
 * ```ts
 * const t0 = realClock.now();
 * yield* realClock.sleep(10);
 * console.log(realClock.now() - t0 >= 10); // true
 * ```
 */
export const realClock: Clock = {
  now: () => performance.now(),
  sleep(ms: number): Operation<void> {
    return sleepReal(ms);
  },
  *sleepUntil(time: number): Operation<void> {
    let remaining = time - performance.now();
    while (remaining > 0) {
      yield* sleepReal(remaining);
      remaining = time - performance.now();
    }
  },
};

function sleepReal(ms: number): Operation<void> {
  return action<void>((resolve) => {
    if (ms === Number.POSITIVE_INFINITY) return () => {};
    const timer = setTimeout(resolve, Math.max(0, ms));
    return () => clearTimeout(timer);
  });
}

/**
 * The clock in context. Defaults to {@link realClock}. Set it in a scope to make
 * every bough delay below that scope use another clock.
 *
 * @example
 * ```ts
 * import { createVirtualClock } from "bough/testing";
 * const clock = createVirtualClock();
 * yield* ClockContext.set(clock);
 * ```
 */
export const ClockContext = createContext<Clock>("bough.clock", realClock);

/**
 * Returns the clock in context (the real clock unless a scope above set
 * another).
 *
 * @example
 * ```ts
 * const clock = yield* useClock();
 * yield* clock.sleep(250);
 * ```
 */
export function* useClock(): Operation<Clock> {
  return yield* ClockContext.expect();
}

/**
 * Sleeps `ms` milliseconds on the clock in context. Prefer it to effection's
 * `sleep` inside code that should be testable with the virtual clock.
 *
 * @example
 * ```ts
 * yield* delay(1000); // instant under a virtual clock advanced by 1000
 * ```
 */
export function* delay(ms: number): Operation<void> {
  const clock = yield* useClock();
  yield* clock.sleep(ms);
}
