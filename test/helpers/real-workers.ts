import { readFile } from "node:fs/promises";
import { afterEach, beforeAll, beforeEach, vi } from "vitest";
import { checkLeaksAfterEach } from "./leaks.js";
import { workerThreads } from "./threads.js";

/** True while a process with this pid exists (not yet reaped). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Worker threads are not in `process.getActiveResourcesInfo()`, so the shared
 * leak check cannot see them: this one counts threads instead ({@link workerThreads})
 * and fails a test that leaves a worker thread running.
 */
export function checkThreadsAfterEach(): void {
  let baseline = 0;
  beforeAll(async () => {
    // Warm libuv's thread pool so that its threads are in every baseline.
    await Promise.all(Array.from({ length: 8 }, () => readFile(import.meta.filename)));
  });
  beforeEach(() => {
    baseline = workerThreads();
  });
  afterEach(async () => {
    const deadline = Date.now() + 2000;
    while (workerThreads() > baseline) {
      if (Date.now() > deadline) {
        throw new Error(`worker threads left running: ${workerThreads() - baseline}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  });
}

/**
 * The preamble of a test file that starts real workers (threads, processes,
 * worker servers): the leak check after each test, a generous timeout (real
 * workers on a shared 2-core machine start slowly), and, unless `threads` is
 * false, the check that no worker thread is left running.
 */
export function realWorkerTests(options: { threads?: boolean } = {}): void {
  checkLeaksAfterEach();
  vi.setConfig({ testTimeout: 60_000 });
  if (options.threads !== false) checkThreadsAfterEach();
}
