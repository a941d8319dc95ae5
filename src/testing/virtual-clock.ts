import { action, type Operation } from "effection";
import type { Clock } from "../core/clock.js";
import { createMinHeap } from "../core/min-heap.js";

/** A {@link Clock} whose time moves only when the test says so. */
export interface VirtualClock extends Clock {
  /**
   * Moves time forward by `ms`, firing every timer that falls due in order of
   * due time, and letting the woken tasks run (and set new timers) before the
   * next one fires. Resolves when time has reached `now() + ms`.
   */
  advance(ms: number): Promise<void>;
  /** Moves time to `time` (absolute), like {@link VirtualClock.advance}. */
  advanceTo(time: number): Promise<void>;
  /**
   * Fires timers until none is left. Throws if more than `maxTimers` fire (a
   * ticker never becomes idle).
   */
  runUntilIdle(maxTimers?: number): Promise<void>;
  /** Lets woken tasks run without moving time. */
  flush(): Promise<void>;
  /** How many timers are waiting. After a test, this should be 0. */
  readonly pending: number;
}

interface Timer {
  time: number;
  seq: number;
  fire: (() => void) | undefined;
}

/**
 * Creates a virtual clock for tests: put it in context with
 * `ClockContext.set(clock)` and every bough delay in that scope (sleep,
 * ticker, timeout, backoff) waits for `advance()` instead of real time, so
 * time tests are instant and exact.
 *
 * @example
 * ```ts
 * import { run, spawn } from "effection";
 * import { ClockContext, delay } from "bough";
 * import { createVirtualClock } from "bough/testing";
 *
 * const clock = createVirtualClock();
 * let done = false;
 * const task = run(function* () {
 *   yield* ClockContext.set(clock);
 *   yield* delay(60_000);
 *   done = true;
 * });
 * await clock.advance(60_000); // no real time passes
 * await task;
 * console.log(done); // true
 * ```
 */
export function createVirtualClock(options: { start?: number } = {}): VirtualClock {
  let now = options.start ?? 0;
  let seq = 0;
  let live = 0;
  const heap = createMinHeap<Timer>(before);

  const peek = (): Timer | undefined => {
    while (heap.size > 0 && heap.peek()?.fire === undefined) heap.pop();
    return heap.peek();
  };

  const sleepUntil = (time: number): Operation<void> =>
    action<void>((resolve) => {
      if (time === Number.POSITIVE_INFINITY) return () => {};
      const timer: Timer = { time: Math.max(time, now), seq: seq++, fire: resolve };
      live++;
      heap.push(timer);
      return () => {
        if (timer.fire) {
          timer.fire = undefined;
          live--;
        }
      };
    });

  const flush = async () => {
    for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
  };

  const fireNext = (limit: number): boolean => {
    const timer = peek();
    if (!timer || timer.time > limit) return false;
    heap.pop();
    now = Math.max(now, timer.time);
    const fire = timer.fire;
    timer.fire = undefined;
    live--;
    fire?.();
    return true;
  };

  const clock: VirtualClock = {
    now: () => now,
    sleep: (ms: number) => sleepUntil(ms === Number.POSITIVE_INFINITY ? ms : now + Math.max(0, ms)),
    sleepUntil,
    async advanceTo(time: number) {
      if (!(time >= now))
        throw new RangeError(`cannot move a virtual clock backwards (${time} < ${now})`);
      await flush();
      while (fireNext(time)) await flush();
      now = time;
      await flush();
    },
    advance(ms: number) {
      if (!(ms >= 0)) return Promise.reject(new RangeError(`advance(ms) needs ms >= 0, got ${ms}`));
      return clock.advanceTo(now + ms);
    },
    async runUntilIdle(maxTimers = 100_000) {
      await flush();
      let fired = 0;
      while (fireNext(Number.POSITIVE_INFINITY)) {
        if (++fired > maxTimers) {
          throw new Error(
            `runUntilIdle: more than ${maxTimers} timers fired; is a ticker still running?`,
          );
        }
        await flush();
      }
    },
    flush,
    get pending() {
      return live;
    },
  };
  return clock;
}

function before(a: Timer, b: Timer): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}
