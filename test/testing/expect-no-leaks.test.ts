import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
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
});
