import type { Operation } from "effection";

/**
 * @internal An operation whose first step has already been taken: the server
 * calls each handler's first step in the `request` event, and a stream peeks
 * at whether its source suspends; whoever drives this operation next resumes
 * the iterator exactly where that first step left it.
 *
 * @example
 * ```ts
 * const iterator = op[Symbol.iterator]();
 * const first = iterator.next();
 * const value = first.done ? first.value : yield* new Resumed(iterator, first);
 * ```
 */
export class Resumed<T> implements Operation<T>, Iterator<any, T, unknown> {
  constructor(
    private iterator: Iterator<any, T, unknown>,
    private first: IteratorResult<any, T> | undefined,
  ) {}
  [Symbol.iterator]() {
    return this;
  }
  next(value?: unknown): IteratorResult<any, T> {
    const first = this.first;
    if (first !== undefined) {
      this.first = undefined;
      return first;
    }
    return this.iterator.next(value);
  }
  throw(error?: unknown): IteratorResult<any, T> {
    this.first = undefined;
    if (this.iterator.throw) return this.iterator.throw(error);
    throw error;
  }
  return(value?: any): IteratorResult<any, T> {
    this.first = undefined;
    if (this.iterator.return) return this.iterator.return(value);
    return { done: true, value };
  }
}
