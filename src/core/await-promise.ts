import { Err, Ok, type Operation, type Result } from "effection";
import { EffectOperation, exitAtOnce } from "./effect-operation.js";
import type { LightEffect, LightRoutine } from "./light-routine.js";

/**
 * Waits for `promise` to settle and returns its value, or throws what it
 * rejected with: what effection's `until(promise)` does, with the same
 * observable behaviour (the conformance suite runs random programs both ways
 * and compares their traces), at a third of the memory while it waits.
 *
 * Why bough has its own. `until()` is an `action()` wrapped in `Do()`: a
 * waiting item holds its operation, iterator, effect, five closures, their
 * contexts and a description string (~800 bytes). A selector with 100,000
 * items waiting on promises spends half its time collecting that garbage
 * (bench core, "suspends once on a resolved promise"). Here one object is the
 * operation, its iterator and its effect; a wait holds that object and the
 * promise's two callbacks (~300 bytes).
 *
 * Like `until()`, it attaches its callbacks when the operation starts, so a
 * rejection is handled from then on; a wait that is halted ignores the
 * promise's later outcome (the coroutine drops the stale resolve). A non-Error
 * rejection is thrown as the value it is, as `until()` does.
 *
 * @example
 * ```ts
 * const selector = yield* useSelector<string, Response>();
 * for (const url of urls) {
 *   selector.add(url, awaitPromise(fetch(url)));
 * }
 * ```
 */
export function awaitPromise<T>(promise: PromiseLike<T>): Operation<T> {
  return new AwaitPromise(promise);
}

/** The operation, its iterator and the effect it yields, in one object. */
class AwaitPromise<T> extends EffectOperation<T> implements LightEffect {
  constructor(private readonly promise: PromiseLike<T>) {
    super();
  }

  get description(): string {
    return "await a promise";
  }

  enter(resolve: (result: Result<T>) => void): (didExit: (result: Result<void>) => void) => void {
    this.promise.then(
      (value) => resolve(Ok(value)),
      (error) => resolve(Err(error)),
    );
    return exitAtOnce;
  }

  /** As {@link enter}, without the routine's `resolve` closure in between. */
  enterLight(
    routine: LightRoutine<unknown>,
    epoch: number,
  ): (didExit: (result: Result<void>) => void) => void {
    this.promise.then(
      (value) => routine.resumeAt(epoch, Ok(value)),
      (error) => routine.resumeAt(epoch, Err(error)),
    );
    return exitAtOnce;
  }

  protected again(): AwaitPromise<T> {
    return new AwaitPromise(this.promise);
  }
}
