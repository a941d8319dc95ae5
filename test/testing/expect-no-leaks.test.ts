import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { BoughError } from "../../src/core/errors.js";
import { expectNoLeaks, LeakError } from "../../src/testing/index.js";

describe("expectNoLeaks", () => {
  it("passes when everything opened during the test was closed", async () => {
    const check = expectNoLeaks();
    const timer = setTimeout(() => {}, 10_000);
    clearTimeout(timer);
    await check();
  });

  it("names the kind of each resource left open", async () => {
    const check = expectNoLeaks({ timeoutMs: 50 });
    const server = createServer().listen(0, "127.0.0.1");
    const timer = setTimeout(() => {}, 10_000);
    try {
      const error = await check().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LeakError);
      expect(error).toBeInstanceOf(BoughError);
      expect((error as LeakError).code).toBe("BOUGH_TESTING_LEAK");
      expect((error as LeakError).extra).toMatchObject({ TCPServerWrap: 1, Timeout: 1 });
    } finally {
      clearTimeout(timer);
      await new Promise((r) => server.close(r));
    }
  });

  it("waits for resources that are still closing", async () => {
    const check = expectNoLeaks({ timeoutMs: 1000 });
    const timer = setTimeout(() => {}, 100);
    await check();
    clearTimeout(timer);
  });

  it("sees a worker thread left running when asked to count threads", async () => {
    readFileSync(import.meta.filename); // warm libuv's thread pool before the snapshot
    const check = expectNoLeaks({ timeoutMs: 100, threads: true });
    const checkAfterTerminate = expectNoLeaks({ timeoutMs: 2000, threads: true });
    const worker = new Worker("setInterval(() => {}, 1000)", { eval: true });
    await new Promise((resolve) => worker.once("online", resolve));
    try {
      const error = await check().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LeakError);
      const { extra } = error as LeakError;
      expect(extra.WorkerThread ?? extra.OSThread).toBeGreaterThanOrEqual(1);
    } finally {
      await worker.terminate();
    }
    await checkAfterTerminate(); // the thread is gone once terminate() resolved
  });
});
