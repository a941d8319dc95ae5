import { threadCount } from "../../src/testing/index.js";

/**
 * How many worker threads this process runs (Linux): bough/testing's
 * `threadCount()`, as a number (0 where there is no /proc).
 *
 * @example
 * ```ts
 * const before = workerThreads();
 * await stopTheApp();
 * expect(workerThreads()).toBeLessThanOrEqual(before);
 * ```
 */
export function workerThreads(): number {
  return threadCount()?.count ?? 0;
}

/**
 * The /proc entry of one OS thread of this process (Linux), by its id (the
 * echo worker's `osThread`): it exists while the thread runs.
 *
 * @example
 * ```ts
 * const entry = osThreadEntry(yield* checkout.call("osThread"));
 * expect(existsSync(entry)).toBe(true);
 * ```
 */
export function osThreadEntry(tid: number): string {
  return `/proc/self/task/${tid}`;
}
