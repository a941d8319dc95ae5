import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { afterEach, beforeAll, beforeEach, vi } from "vitest";
import { checkLeaksAfterEach } from "./leaks.js";

/** OS threads of this process (Linux): each live worker thread is one. */
export function osThreads(): number {
  const status = readFileSync("/proc/self/status", "utf8");
  return Number(/Threads:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
}

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
 * leak check cannot see them: this one counts OS threads instead and fails a
 * test that leaves a worker thread running.
 */
export function checkThreadsAfterEach(): void {
  let baseline = 0;
  beforeAll(async () => {
    // Warm libuv's thread pool so that its threads are in every baseline.
    await Promise.all(Array.from({ length: 8 }, () => readFile(import.meta.filename)));
  });
  beforeEach(() => {
    baseline = osThreads();
  });
  afterEach(async () => {
    const deadline = Date.now() + 2000;
    while (osThreads() > baseline) {
      if (Date.now() > deadline) {
        throw new Error(`worker threads left running: ${osThreads() - baseline}`);
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
