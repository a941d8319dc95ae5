import {
  action,
  type Coroutine,
  createContext,
  type Effect,
  Err,
  Ok,
  type Operation,
  type Result,
  suspend,
} from "effection";
import { EffectOperation, exitAtOnce, OK } from "./effect-operation.js";
import { lightRoutines } from "./effection-internals.js";
import { expectIn, readContext } from "./light-routine.js";

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
  return action<void>((resolve) => hostTimer(ms, resolve));
}

/** Node's longest timeout, 2^31 − 1 ms (~24.8 days): it runs a longer one after 1 ms, with a warning. */
const MAX_TIMEOUT = 2_147_483_647;

/**
 * Calls `fire` after `ms` on a host timer and returns what cancels it. A wait
 * longer than {@link MAX_TIMEOUT} goes in steps until its deadline, where a
 * plain `setTimeout()` would fire after 1 ms.
 */
function hostTimer(ms: number, fire: () => void): () => void {
  const deadline = performance.now() + ms;
  let timer = setTimeout(
    function step() {
      const left = deadline - performance.now();
      if (ms > MAX_TIMEOUT && left >= 1) timer = setTimeout(step, Math.min(left, MAX_TIMEOUT));
      else fire();
    },
    Math.min(Math.max(0, ms), MAX_TIMEOUT),
  );
  return () => clearTimeout(timer);
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
    return sleepOnHost(this.ms, resolve);
  }
  protected again(): SleepEffect {
    return new SleepEffect(this.ms);
  }
}

/**
 * What entering a real sleep of `ms` does: join the open batch of sleeps of
 * that duration (or open one), so that `resolve` is called when its host timer
 * fires. Returns the effect's exit, which leaves the batch.
 */
function sleepOnHost(
  ms: number,
  resolve: (result: Result<void>) => void,
): (exited: (result: Result<void>) => void) => void {
  // Node runs a timeout of less than 1 ms (or NaN) as one of 1 ms, in its 1 ms list: key the
  // batch the same way, so that sleep(0) and sleep(1) wake in the order they began, as their
  // own setTimeout()s would (a batch of its own would let a later sleep(0) overtake a sleep(1))
  // biome-ignore lint/complexity/useMathMinMax: NaN too runs as 1 ms (Math.max would keep NaN)
  const after = ms >= 1 ? ms : 1;
  let batch = openBatches.get(after);
  if (batch === undefined) {
    batch = new SleepBatch(after);
    if (openBatches.size === 0) queueMicrotask(closeBatches);
    openBatches.set(after, batch);
  }
  const joined = batch;
  joined.join(resolve);
  return (exited) => {
    joined.leave(resolve);
    exited(OK);
  };
}

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
  /** Cancels the armed host timer. */
  private cancel: (() => void) | undefined;

  constructor(private readonly ms: number) {}

  join(resolve: (result: Result<void>) => void): void {
    this.waiters.add(resolve);
    // armed by the first sleeper, or again if all that joined before have left
    this.cancel ??= hostTimer(this.ms, this.fire);
  }

  /** A sleeper was interrupted: the host timer goes when nobody is left. */
  leave(resolve: (result: Result<void>) => void): void {
    const waiters = this.waiters;
    if (!waiters.delete(resolve) || waiters.size > 0) return;
    this.cancel?.();
    this.cancel = undefined;
  }

  private fire = (): void => {
    this.cancel = undefined;
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

/** The first step: yield the Delay itself, as the effect that reads the clock. */
const READ_CLOCK = 0;
/** The effect answered with a clock other than the real one: run that clock's sleep. */
const ON_CLOCK = 1;
/** The effect found the real clock and entered its sleep itself: the next step ends. */
const ON_HOST = 2;

/**
 * {@link delay} as one hand-written iterator instead of two generators, and
 * its own first effect. Entered, that effect reads the clock in context, as
 * `useClock()` does. On the real clock (every delay in production) it enters
 * the sleep itself, at once: one effect and no scheduler turn per delay, where
 * reading the clock and then sleeping took two effects and a turn between
 * them (with 100,000 items starting at once, 100,000 queued turns of
 * effection's reducer). On any other clock it answers with the clock, and the
 * iterator then runs that clock's sleep, passing every step, throw and return
 * through as `yield*` would. A sleeping item keeps this object and the sleep,
 * not a generator and its registers for each level.
 */
class Delay implements Operation<void>, Iterator<Effect<unknown>, void, unknown>, Effect<unknown> {
  private phase = READ_CLOCK;
  private started = false;
  private sleep: Iterator<Effect<unknown>, void, unknown> | undefined = undefined;

  constructor(private readonly ms: number) {}

  get description(): string {
    return `delay(${this.ms})`;
  }

  [Symbol.iterator](): Iterator<Effect<unknown>, void, unknown> {
    if (this.started) return new Delay(this.ms);
    this.started = true;
    return this;
  }

  enter(
    resolve: (result: Result<unknown>) => void,
    routine: Coroutine,
  ): (exited: (result: Result<void>) => void) => void {
    let clock: Clock;
    try {
      clock = expectIn(routine, ClockContext);
    } catch (error) {
      resolve(Err(error as Error));
      return exitAtOnce;
    }
    // sleepReal() of an infinite sleep is effection's suspend(): leave it to the clock's path
    if (clock === realClock && this.ms !== Number.POSITIVE_INFINITY) {
      this.phase = ON_HOST;
      return sleepOnHost(this.ms, resolve);
    }
    resolve(Ok(clock));
    return exitAtOnce;
  }

  next(value?: unknown): IteratorResult<Effect<unknown>, void> {
    const phase = this.phase;
    if (phase === READ_CLOCK) {
      this.phase = ON_CLOCK;
      return { done: false, value: this };
    }
    if (phase === ON_HOST) return { done: true, value: undefined };
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
