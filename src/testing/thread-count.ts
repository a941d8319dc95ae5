import { readdirSync, readFileSync } from "node:fs";

/** What {@link threadCount} counted. */
export interface ThreadCount {
  /**
   * `"WorkerThread"`: the process's worker threads (Node 22 and later name
   * each thread, a worker's `WorkerThread`). `"OSThread"`: every OS thread of
   * the process (Node 20 names them all `node`, so a worker cannot be told
   * from V8's or libuv's threads there).
   */
  kind: "WorkerThread" | "OSThread";
  count: number;
}

/**
 * How many worker threads this process runs (Linux, from `/proc/self/task`),
 * or `undefined` where there is no `/proc`. Worker threads do not appear in
 * `process.getActiveResourcesInfo()`, so this is how a test sees one left
 * running. Only threads named `WorkerThread` are counted where Node names its
 * threads: V8, libuv's pool and the module loader start and stop threads of
 * their own, and counting them made leak checks fail at random (on Node 26 a
 * check once saw one more thread five seconds after every worker had gone).
 * On Node 20 it is every OS thread; compare it with a count taken before, after
 * warming libuv's pool (any `fs` call).
 *
 * @example
 * ```ts
 * import { threadCount } from "bough/testing";
 * const before = threadCount();
 * await stopTheApp();
 * expect(threadCount()?.count).toBeLessThanOrEqual(before?.count ?? 0);
 * ```
 */
export function threadCount(): ThreadCount | undefined {
  let tids: string[];
  try {
    tids = readdirSync("/proc/self/task");
  } catch {
    return undefined; // not Linux
  }
  const names = tids.map((tid) => {
    try {
      return readFileSync(`/proc/self/task/${tid}/comm`, "utf8").trim();
    } catch {
      return ""; // the thread ended meanwhile
    }
  });
  if (names.every((name) => name === "node" || name === "")) {
    return { kind: "OSThread", count: names.length };
  }
  return { kind: "WorkerThread", count: names.filter((name) => name === "WorkerThread").length };
}
