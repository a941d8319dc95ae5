import { type Operation, scoped, spawn, withResolvers } from "effection";

/**
 * Runs every operation concurrently and returns the first value that succeeds;
 * the others are halted (and their cleanup awaited). If every operation
 * fails, throws an `AggregateError` carrying each error in input order
 * (Future's `needs_any`). effection's `race` is `wait_any` (first to settle,
 * even by failing) and `all` is `needs_all`.
 *
 * @example
 * ```ts
 * const reply = yield* any([queryReplica("a"), queryReplica("b"), queryReplica("c")]);
 * ```
 */
export function* any<T>(ops: readonly Operation<T>[]): Operation<T> {
  if (ops.length === 0) throw new AggregateError([], "any([]): no operations to run");
  return yield* scoped(function* () {
    const errors: unknown[] = new Array(ops.length);
    let failures = 0;
    const winner = withResolvers<T>();
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i];
      yield* spawn(function* () {
        try {
          winner.resolve(yield* op);
        } catch (error) {
          errors[i] = error;
          if (++failures === ops.length) {
            winner.reject(new AggregateError(errors, `any: all ${ops.length} operations failed`));
          }
        }
      });
    }
    return yield* winner.operation;
  });
}
