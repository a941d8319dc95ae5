import { readdirSync, readFileSync } from "node:fs";

/** The names (`comm`) of this process's OS threads (Linux); a thread that ended meanwhile is "". */
function threadNames(): string[] {
  return readdirSync("/proc/self/task").map((tid) => {
    try {
      return readFileSync(`/proc/self/task/${tid}/comm`, "utf8").trim();
    } catch {
      return "";
    }
  });
}

/**
 * How many worker threads this process runs (Linux). Node 22 and later name
 * their threads, a worker's `WorkerThread`, and only those are counted: V8,
 * libuv's pool and the module loader start and stop threads of their own (on
 * Node 26 a test once saw one more thread five seconds after its workers had
 * gone). Node 20 names every thread `node`: there it is every OS thread of the
 * process, which a caller compares with a count taken before.
 *
 * @example
 * ```ts
 * const before = workerThreads();
 * await stopTheApp();
 * expect(workerThreads()).toBeLessThanOrEqual(before);
 * ```
 */
export function workerThreads(): number {
  const names = threadNames();
  if (names.every((name) => name === "node" || name === "")) return names.length;
  return names.filter((name) => name === "WorkerThread").length;
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
