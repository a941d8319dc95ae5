import { readdirSync, readFileSync } from "node:fs";

/** Node names its threads (a worker's `WorkerThread`) from version 24 on; 20 and 22 call them all `node`. */
const NAMED_THREADS = Number(process.versions.node.split(".")[0]) >= 24;

/** What {@link threadCount} counted. */
export interface ThreadCount {
  /**
   * `"WorkerThread"`: the process's worker threads (Node 24 and later name
   * each thread, a worker's `WorkerThread`). `"OSThread"`: every OS thread of
   * the process (Node 20 and 22 name a worker `node`, as they name V8's and
   * libuv's threads, so a worker cannot be told from them there).
   */
  kind: "WorkerThread" | "OSThread";
  count: number;
}

/**
 * How many worker threads this process runs (Linux, from `/proc/self/task`),
 * or `undefined` where there is no `/proc`. Worker threads do not appear in
 * `process.getActiveResourcesInfo()`, so this is how a test sees one left
 * running. Only threads named `WorkerThread` are counted where Node names its
 * threads (24 and later): V8, libuv's pool and the module loader start and
 * stop threads of their own, and counting them made leak checks fail at random
 * (on Node 26 a check once saw one more thread five seconds after every worker
 * had gone). On Node 20 and 22 it is every OS thread; compare it with a count
 * taken before, after warming libuv's pool (any `fs` call).
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
  if (!NAMED_THREADS) return { kind: "OSThread", count: tids.length };
  let count = 0;
  for (const tid of tids) {
    try {
      if (readFileSync(`/proc/self/task/${tid}/comm`, "utf8").trim() === "WorkerThread") count++;
    } catch {
      // the thread ended meanwhile
    }
  }
  return { kind: "WorkerThread", count };
}
