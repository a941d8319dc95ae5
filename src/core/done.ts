import type { Operation } from "effection";

const RESULT: IteratorReturnResult<undefined> = { done: true, value: undefined };

/**
 * The iterator of an operation that is already done: its first step returns,
 * and it allocates nothing (not even its result). Shared by every fast path
 * that has nothing to wait for. @internal
 *
 * @example
 * ```ts
 * this.iterator = DONE_ITERATOR; // a settled routine lets its operation be collected
 * ```
 */
export const DONE_ITERATOR: Iterator<never, undefined, unknown> = { next: () => RESULT };

/**
 * An operation that is already done: `yield*` on it returns at once, without
 * suspending and without allocating a generator. The fast path of a wait
 * that finds its condition already true. @internal
 *
 * @example
 * ```ts
 * untilItem(): Operation<void> {
 *   return this.size > 0 ? DONE : this.waitForItem();
 * }
 * ```
 */
export const DONE: Operation<void> = { [Symbol.iterator]: () => DONE_ITERATOR };
