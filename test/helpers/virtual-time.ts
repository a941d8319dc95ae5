import { createScope, type Operation, run } from "effection";
import { ClockContext } from "../../src/core/clock.js";
import { createVirtualClock, type VirtualClock } from "../../src/testing/virtual-clock.js";

/**
 * Starts `op` in a fresh scope whose clock is a new virtual clock. Returns the
 * clock, the task, and `dispose()` to end the scope after the test.
 */
export function startWithVirtualClock<T>(op: (clock: VirtualClock) => Operation<T>) {
  const clock = createVirtualClock();
  const scope = createScope();
  const task = scope.run(function* () {
    yield* ClockContext.set(clock);
    return yield* op(clock);
  });
  return { clock, task, dispose: () => scope[Symbol.asyncDispose]() };
}

/**
 * Waits for `promise` (an effection future starts here), moving `clock` on
 * whenever the tasks are idle: every due timer fires in order of due time, and
 * the woken tasks run before the next one, so "5 ms before 50 ms" holds however
 * busy the machine is. Tasks that wait on something real (a promise, a socket)
 * are given event-loop turns until it arrives.
 */
export async function advanceUntilSettled<T>(clock: VirtualClock, promise: PromiseLike<T>) {
  let settled = false;
  const done = Promise.resolve(promise).then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  while (!settled) {
    await clock.runUntilIdle();
    if (!settled) await Promise.race([done, new Promise((resolve) => setImmediate(resolve))]);
  }
  return promise;
}

/**
 * Runs `op` like effection's `run`, with a new virtual clock in context that
 * moves on by itself whenever the task is idle (see {@link advanceUntilSettled}).
 */
export function runWithVirtualClock<T>(op: (clock: VirtualClock) => Operation<T>): Promise<T> {
  const clock = createVirtualClock();
  const task = run(function* () {
    yield* ClockContext.set(clock);
    return yield* op(clock);
  });
  return advanceUntilSettled(clock, task);
}
