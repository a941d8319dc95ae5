import { createScope, type Operation } from "effection";
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
