import { action, type Operation } from "effection";

/**
 * Wraps `op` so that it runs at most once: the first call runs it, every
 * later call (while it runs, or after) waits for that run and ends as it
 * did, returning or throwing the same error. For a close or a halt that two
 * owners may ask for (a scope's destructor and a task group, a selector's
 * owner and a scope destroyed from outside). @internal
 *
 * @example
 * ```ts
 * const close = once(function* () { yield* releaseEverything(); });
 * yield* close(); // releases
 * yield* close(); // waits for the first call, releases nothing more
 * ```
 */
export function once(op: () => Operation<void>): () => Operation<void> {
  let started = false;
  let outcome: { ok: true } | { ok: false; error: unknown } | undefined;
  let waiters: (() => void)[] = [];
  function* run(): Operation<void> {
    if (!started) {
      started = true;
      try {
        yield* op();
        outcome = { ok: true };
      } catch (error) {
        outcome = { ok: false, error };
      }
      const woken = waiters;
      waiters = [];
      for (const wake of woken) wake();
    } else if (outcome === undefined) {
      yield* action<void>((resolve) => {
        waiters.push(resolve);
        return () => {
          const i = waiters.indexOf(resolve);
          if (i >= 0) waiters.splice(i, 1);
        };
      });
    }
    const result = outcome as { ok: true } | { ok: false; error: unknown };
    if (!result.ok) throw result.error;
  }
  return run;
}
