import {
  action,
  createContext,
  type Effect,
  Ok,
  type Operation,
  type Result,
  suspend,
} from "effection";
import { EffectOperation } from "./effect-operation.js";
import { lightRoutines } from "./effection-internals.js";
import { readContext } from "./light-routine.js";

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
 * The real clock: `performance.now()` for time and `setTimeout` for sleeps (sleeps of
 * one duration begun in one synchronous burst share one timer).
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
  if (ms === Number.POSITIVE_INFINITY) return suspend();
  if (lightRoutines) return new SleepEffect(ms);
  // an effection whose internals failed the self-check: only its documented API
  return action<void>((resolve) => {
    const timer = setTimeout(resolve, Math.max(0, ms));
    return () => clearTimeout(timer);
  });
}

/**
 * One real sleep, as one object that is the operation and its effect rather
 * than an `action()`: an item that sleeps holds this and its exit, not an
 * action's closures, a `Do` wrapper and a generator (what 100,000 sleeping
 * items keep alive, and the GC copies).
 */
class SleepEffect extends EffectOperation<void> {
  constructor(private readonly ms: number) {
    super();
  }
  get description(): string {
    return `sleep(${this.ms})`;
  }
  enter(resolve: (result: Result<void>) => void): (exited: (result: Result<void>) => void) => void {
    let batch = openBatches.get(this.ms);
    if (batch === undefined) {
      batch = new SleepBatch(Math.max(0, this.ms));
      if (openBatches.size === 0) queueMicrotask(closeBatches);
      openBatches.set(this.ms, batch);
    }
    const joined = batch;
    joined.join(resolve);
    return (exited) => {
      joined.leave(resolve);
      exited(OK);
    };
  }
  protected again(): SleepEffect {
    return new SleepEffect(this.ms);
  }
}

const OK: Result<void> = Ok();

/**
 * Sleeps of one duration that begin in one synchronous burst (a loop adding
 * 100,000 sleeping items) share one host timer. Node gives such timers the
 * same expiry and fires them in one pass anyway, but runs the microtasks
 * after each callback, so a selector over them woke once per timer; a batch
 * wakes each sleeper in turn from one callback (in the order they began) and
 * the selector once. The batch takes no new sleeper after the burst's
 * microtask checkpoint.
 */
class SleepBatch {
  readonly waiters = new Set<(result: Result<void>) => void>();
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly ms: number) {}

  join(resolve: (result: Result<void>) => void): void {
    this.waiters.add(resolve);
    // armed by the first sleeper, or again if all that joined before have left
    this.timer ??= setTimeout(this.fire, this.ms);
  }

  /** A sleeper was interrupted: the host timer goes when nobody is left. */
  leave(resolve: (result: Result<void>) => void): void {
    const waiters = this.waiters;
    if (!waiters.delete(resolve) || waiters.size > 0) return;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private fire = (): void => {
    this.timer = undefined;
    // a sleeper that wakes may interrupt a later one (leave() then deletes it)
    for (const wake of this.waiters) {
      this.waiters.delete(wake);
      try {
        wake(OK);
      } catch (error) {
        // as from a timer of its own: uncaught, and the others still wake
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  };
}

/** The batches still taking sleepers, by duration (see {@link SleepBatch}). */
const openBatches = new Map<number, SleepBatch>();

function closeBatches(): void {
  openBatches.clear();
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
export function useClock(): Operation<Clock> {
  // not ClockContext.expect(): read in a light routine, that would give the routine a scope
  // (readContext reads the coroutine, which only the light routines' mode may rely on)
  return lightRoutines ? readContext(ClockContext) : ClockContext.expect();
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
export function delay(ms: number): Operation<void> {
  return lightRoutines ? new Delay(ms) : delayInTask(ms);
}

/** {@link delay} with only effection's documented API (light routines off); may be run more than once. */
function delayInTask(ms: number): Operation<void> {
  return {
    *[Symbol.iterator]() {
      const clock = yield* useClock();
      yield* clock.sleep(ms);
    },
  };
}

const READ_CLOCK = 0;
const SLEEP = 1;

/**
 * {@link delay} as one hand-written iterator instead of two generators: it
 * reads the clock (one effect, one scheduler turn, as `useClock()` takes), then
 * runs the clock's sleep, passing every step, throw and return through as
 * `yield*` would. A sleeping item keeps this and the sleep, not a generator
 * and its registers for each level.
 */
class Delay implements Operation<void>, Iterator<Effect<unknown>, void, unknown> {
  private phase = READ_CLOCK;
  private started = false;
  private sleep: Iterator<Effect<unknown>, void, unknown> | undefined = undefined;

  constructor(private readonly ms: number) {}

  [Symbol.iterator](): Iterator<Effect<unknown>, void, unknown> {
    if (this.started) return new Delay(this.ms);
    this.started = true;
    return this;
  }

  next(value?: unknown): IteratorResult<Effect<unknown>, void> {
    if (this.phase === READ_CLOCK) {
      this.phase = SLEEP;
      return { done: false, value: readContext(ClockContext) as unknown as Effect<unknown> };
    }
    let sleep = this.sleep;
    if (sleep === undefined) {
      sleep = this.sleep = (value as Clock).sleep(this.ms)[Symbol.iterator]();
      return sleep.next();
    }
    return sleep.next(value);
  }

  throw(error: unknown): IteratorResult<Effect<unknown>, void> {
    const sleep = this.sleep;
    if (sleep?.throw) return sleep.throw(error);
    throw error;
  }

  return(value?: unknown): IteratorResult<Effect<unknown>, void> {
    const sleep = this.sleep;
    if (sleep?.return) return sleep.return(value as undefined);
    return { done: true, value: undefined };
  }
}
