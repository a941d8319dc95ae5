import type { Operation } from "effection";

/**
 * Runs `op` and returns what it threw, or `undefined` when it returned: a test
 * asserts on an expected failure without try/catch in its body.
 */
export function* thrown(op: Operation<unknown>): Operation<unknown> {
  try {
    yield* op;
  } catch (error) {
    return error;
  }
  return undefined;
}
