import { type Effect, Ok, type Operation, type Result } from "effection";

const FRESH = 0;
const STARTED = 1;
const YIELDED = 2;

/**
 * An operation that performs one effect and returns what it resolved with, as
 * one object: the operation, its iterator and the effect. effection's `Do()`
 * (behind `action()`, `until()`, `sleep()`) makes an iterator, an effect and
 * closures for each run; a selector with 100,000 waiting items keeps all of
 * them alive, and the collector copies them. A subclass says what entering the
 * effect does and how to make a fresh copy for a second run. @internal
 *
 * @example
 * ```ts
 * class Now extends EffectOperation<number> {
 *   readonly description = "now";
 *   enter(resolve: (result: Result<number>) => void) {
 *     resolve(Ok(performance.now()));
 *     return exitAtOnce;
 *   }
 *   protected again() { return new Now(); }
 * }
 * ```
 */
export abstract class EffectOperation<T>
  implements Operation<T>, Iterator<Effect<T>, T, unknown>, Effect<T>
{
  private state = FRESH;

  abstract readonly description: string;

  abstract enter(
    resolve: (result: Result<T>) => void,
    routine: Parameters<Effect<T>["enter"]>[1],
  ): (didExit: (result: Result<void>) => void) => void;

  /** A fresh copy, for a run after the first (an operation may be run many times). */
  protected abstract again(): EffectOperation<T>;

  [Symbol.iterator](): Iterator<Effect<T>, T, unknown> {
    if (this.state !== FRESH) return this.again();
    this.state = STARTED;
    return this;
  }

  next(value?: unknown): IteratorResult<Effect<T>, T> {
    if (this.state === YIELDED) return { done: true, value: value as T };
    this.state = YIELDED;
    return { done: false, value: this };
  }

  // as effection's Do(): a failure the coroutine throws in is the operation's
  throw(error: unknown): IteratorResult<Effect<T>, T> {
    throw error;
  }
}

/**
 * `Ok()`: effection never mutates a Result, so one instance serves every
 * operation that resolves or exits with nothing. @internal
 */
export const OK: Result<void> = Ok();

/** An exit with nothing to undo: a stale resolve after it is ignored by the coroutine. @internal */
export const exitAtOnce = (didExit: (result: Result<void>) => void): void => didExit(OK);
