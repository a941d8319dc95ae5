import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { threadCount } from "../../src/testing/index.js";

describe("threadCount", () => {
  it("counts a worker thread while it runs and not once it was terminated", async () => {
    const before = threadCount();
    if (before === undefined) return; // no /proc: nothing to count
    const worker = new Worker("setInterval(() => {}, 1000)", { eval: true });
    await new Promise((resolve) => worker.once("online", resolve));
    try {
      const during = threadCount();
      expect(during?.kind).toBe(before.kind);
      expect(during?.count).toBeGreaterThanOrEqual(before.count + 1);
    } finally {
      await worker.terminate();
    }
    // a worker's thread is gone once terminate() resolved; on Node 20 and 22 other threads count too
    if (before.kind === "WorkerThread") expect(threadCount()?.count).toBe(before.count);
  });

  it("counts worker threads by name where Node names its threads", () => {
    const major = Number(process.versions.node.split(".")[0]);
    expect(threadCount()?.kind).toBe(major >= 24 ? "WorkerThread" : "OSThread");
  });
});
