import { action, type Operation, sleep } from "effection";
import type { Clock } from "../../../src/core/clock.js";

/**
 * The conformance suite's clock: virtual time, as bough's virtual clock, that
 * also lets a program run effection's own `sleep` (a real host timer). A real
 * sleep takes no virtual time, and the clock fires its next timer only once
 * every real sleep has ended and the woken tasks are idle again, so a trace
 * never depends on how fast the machine fires a real timer.
 */
export interface SteppedClock extends Clock {
  /** effection's `sleep(ms)`, which the clock waits for before it moves on. */
  realSleep(ms: number): Operation<void>;
  /** Moves time to `time`, firing each timer due by then, in order, one at a time. */
  advanceTo(time: number): Promise<void>;
  /** Fires timers until none is left (throws after `maxTimers`). */
  runUntilIdle(maxTimers?: number): Promise<void>;
  /** How many virtual timers are waiting. */
  readonly pending: number;
}

interface Timer {
  time: number;
  seq: number;
  fire: () => void;
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Creates a {@link SteppedClock} at time 0. */
export function createSteppedClock(): SteppedClock {
  let now = 0;
  let seq = 0;
  let real = 0;
  /** Resolves the wait in {@link settle} once no real sleep is left. */
  let realEnded: (() => void) | undefined;
  const timers = new Set<Timer>();

  const sleepUntil = (time: number): Operation<void> =>
    action<void>((resolve) => {
      if (time === Number.POSITIVE_INFINITY) return () => {};
      const timer: Timer = { time: Math.max(time, now), seq: seq++, fire: resolve };
      timers.add(timer);
      return () => timers.delete(timer);
    });

  /** Lets woken tasks run until they wait for a timer (virtual, or none real). */
  const settle = async () => {
    for (;;) {
      for (let i = 0; i < 3; i++) await turn();
      if (real === 0) return;
      // the guard is no timing: only a run that hangs (effection's own hang, see STUCK in
      // run-three-ways.ts) leaves a real sleep neither ended nor unwound for 5 s
      let guard: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        realEnded = resolve;
        guard = setTimeout(resolve, 5000);
      });
      clearTimeout(guard);
    }
  };

  const next = (): Timer | undefined => {
    let first: Timer | undefined;
    for (const timer of timers) {
      if (!first || timer.time < first.time || (timer.time === first.time && timer.seq < first.seq))
        first = timer;
    }
    return first;
  };

  const fireNext = (limit: number): boolean => {
    const timer = next();
    if (!timer || timer.time > limit) return false;
    timers.delete(timer);
    now = Math.max(now, timer.time);
    timer.fire();
    return true;
  };

  return {
    now: () => now,
    sleep: (ms) => sleepUntil(ms === Number.POSITIVE_INFINITY ? ms : now + Math.max(0, ms)),
    sleepUntil,
    *realSleep(ms) {
      real++;
      try {
        yield* sleep(ms);
      } finally {
        if (--real === 0) {
          realEnded?.();
          realEnded = undefined;
        }
      }
    },
    async advanceTo(time) {
      await settle();
      while (fireNext(time)) await settle();
      now = Math.max(now, time);
      await settle();
    },
    async runUntilIdle(maxTimers = 100_000) {
      await settle();
      for (let fired = 0; fireNext(Number.POSITIVE_INFINITY); fired++) {
        if (fired > maxTimers) throw new Error(`more than ${maxTimers} timers fired`);
        await settle();
      }
    },
    get pending() {
      return timers.size;
    },
  };
}
