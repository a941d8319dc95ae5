import { BoughError } from "../core/errors.js";
import { threadCount } from "./thread-count.js";

/** Options of {@link expectNoLeaks}. */
export interface NoLeaksOptions {
  /** How long the check waits for resources to close before failing. Default 2000 ms. */
  timeoutMs?: number;
  /** Resource types that are never counted (for example `"TTYWrap"`). */
  ignore?: string[];
  /**
   * Also count the process's worker threads (Linux), as {@link threadCount} does:
   * reported as `"WorkerThread"` on Node 24 and later, which name their threads, and as
   * `"OSThread"` (every OS thread of the process) on Node 20 and 22. Worker threads do not
   * appear in `process.getActiveResourcesInfo()`, so this is how a test sees one left
   * running. On Node 20 and 22, warm libuv's lazily started thread pool (any `fs` call)
   * before the snapshot.
   * Default false.
   */
  threads?: boolean;
}

/** Thrown by the check returned from {@link expectNoLeaks}. */
export class LeakError extends BoughError {
  override readonly name = "LeakError";
  /** Resource type → how many more are open than at the baseline. */
  readonly extra: Record<string, number>;

  constructor(extra: Record<string, number>) {
    const list = Object.entries(extra)
      .map(([type, n]) => `${n} × ${type}`)
      .join(", ");
    super("BOUGH_TESTING_LEAK", `resources left open after the test: ${list}`);
    this.extra = extra;
  }
}

const ALWAYS_IGNORED = new Set([
  "TTYWrap",
  "PipeWrap",
  "FSReqCallback",
  "FSReqPromise",
  "Immediate",
]);

/**
 * Takes a snapshot of the process's open handles (timers, sockets, servers,
 * UDP sockets, child processes, worker threads, …) and returns a check that
 * fails with a {@link LeakError} if more of any kind are open than at the
 * snapshot. The check waits up to `timeoutMs` for handles that are closing.
 *
 * @example
 * ```ts
 * import { afterEach, beforeEach } from "vitest";
 * let checkLeaks: () => Promise<void>;
 * beforeEach(() => { checkLeaks = expectNoLeaks(); });
 * afterEach(() => checkLeaks());
 * ```
 */
export function expectNoLeaks(options: NoLeaksOptions = {}): () => Promise<void> {
  const ignore = new Set([...ALWAYS_IGNORED, ...(options.ignore ?? [])]);
  const threads = options.threads ?? false;
  const baseline = countResources(ignore, threads);
  const timeoutMs = options.timeoutMs ?? 2000;
  return async () => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const extra = difference(countResources(ignore, threads), baseline);
      if (Object.keys(extra).length === 0) return;
      if (Date.now() >= deadline) throw new LeakError(extra);
      await new Promise((r) => setTimeout(r, 10).unref());
    }
  };
}

function countResources(ignore: Set<string>, threads: boolean): Map<string, number> {
  const counts = new Map<string, number>();
  if (threads) {
    const counted = threadCount();
    if (counted !== undefined) counts.set(counted.kind, counted.count);
  }
  for (const type of process.getActiveResourcesInfo()) {
    if (ignore.has(type)) continue;
    counts.set(type, (counts.get(type) ?? 0) + 1);
  }
  return counts;
}

function difference(
  now: Map<string, number>,
  baseline: Map<string, number>,
): Record<string, number> {
  const extra: Record<string, number> = {};
  for (const [type, n] of now) {
    const more = n - (baseline.get(type) ?? 0);
    if (more > 0) extra[type] = more;
  }
  return extra;
}
