import type { Operation } from "effection";

/**
 * Runs `op` and returns its outcome instead of throwing: `{ value }` or
 * `{ error }`, so a test can assert on an expected failure and go on.
 */
export function* settle<T>(op: Operation<T>): Operation<{ value?: T; error?: any }> {
  try {
    return { value: yield* op };
  } catch (error) {
    return { error };
  }
}
