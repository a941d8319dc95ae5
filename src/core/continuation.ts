import type { Effect, Operation } from "effection";

/**
 * An operation whose first step has already been taken: it yields `first`
 * (the effect that step produced), then continues `iterator` exactly where
 * that step left it. The selector and the HTTP server take each operation's
 * first step inline, to finish without any scheduling when it does not
 * suspend; whoever drives the rest (a light routine, a task after a hand-off,
 * a stream's pump) drives a `Continuation`.
 *
 * Internal to bough's adapters (not exported from the package).
 *
 * @example
 * ```ts
 * const iterator = op[Symbol.iterator]();
 * const step = iterator.next();
 * const value = step.done ? step.value : yield* new Continuation(iterator, step.value);
 * ```
 */
export class Continuation<T> implements Operation<T>, Iterator<Effect<unknown>, T, unknown> {
  /** Whether anything has driven it (a task halted before its first turn never does). */
  started = false;

  constructor(
    private iterator: Iterator<Effect<unknown>, T, unknown>,
    private first: Effect<unknown> | undefined,
  ) {}

  [Symbol.iterator](): Iterator<Effect<unknown>, T, unknown> {
    return this;
  }

  next(value?: unknown): IteratorResult<Effect<unknown>, T> {
    this.started = true;
    const first = this.first;
    if (first !== undefined) {
      this.first = undefined;
      return { done: false, value: first };
    }
    return this.iterator.next(value);
  }

  throw(error?: unknown): IteratorResult<Effect<unknown>, T> {
    this.started = true;
    this.first = undefined;
    if (this.iterator.throw) return this.iterator.throw(error);
    throw error;
  }

  return(): IteratorResult<Effect<unknown>, T> {
    this.started = true;
    this.first = undefined;
    return (
      this.iterator.return ? this.iterator.return() : { done: true, value: undefined }
    ) as IteratorResult<Effect<unknown>, T>;
  }

  /**
   * Returns from an operation nobody drove yet, running its `finally` blocks
   * (which may suspend): for a continuation dropped before its first turn.
   */
  *close(): Generator<Effect<unknown>, void, unknown> {
    if (this.started) return;
    this.started = true;
    this.first = undefined;
    const iterator = this.iterator;
    let step = iterator.return ? iterator.return() : { done: true as const, value: undefined };
    while (!step.done) {
      try {
        step = iterator.next(yield step.value);
      } catch (error) {
        if (!iterator.throw) throw error;
        step = iterator.throw(error);
      }
    }
  }
}
