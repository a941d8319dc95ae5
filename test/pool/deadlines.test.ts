import { createScope, run, until, useScope } from "effection";
import { describe, expect, it } from "vitest";
import { realClock } from "../../src/core/clock.js";
import { createDeadlines } from "../../src/pool/deadlines.js";
import { createVirtualClock } from "../../src/testing/virtual-clock.js";

describe("createDeadlines", () => {
  it("fires deadlines in time order on the clock, with one sleeper", async () => {
    const clock = createVirtualClock();
    const fired: string[] = [];
    await run(function* () {
      const deadlines = createDeadlines(yield* useScope(), clock);
      deadlines.add(300, () => fired.push("c"));
      deadlines.add(100, () => fired.push("a"));
      deadlines.add(200, () => fired.push("b"));
      yield* until(clock.flush());
      expect(clock.pending).toBe(1);
      yield* until(clock.advance(150));
      expect(fired).toEqual(["a"]);
      yield* until(clock.advance(150));
      expect(fired).toEqual(["a", "b", "c"]);
      expect(clock.pending).toBe(0);
    });
  });

  it("never fires a due deadline inside add(), even when its sleeper starts synchronously", async () => {
    // scope.run() from outside any operation starts its task at once, as a task
    // spawned from a light routine does; on the real clock a due sleep ends at once
    const scope = createScope();
    const deadlines = createDeadlines(scope, realClock);
    let fired = false;
    deadlines.add(realClock.now() - 1, () => {
      fired = true;
    });
    expect(fired).toBe(false);
    await new Promise((resolve) => setImmediate(resolve));
    expect(fired).toBe(true);
    await scope[Symbol.asyncDispose]();
  });

  it("does not fire a cancelled deadline", async () => {
    const clock = createVirtualClock();
    const fired: number[] = [];
    await run(function* () {
      const deadlines = createDeadlines(yield* useScope(), clock);
      const handles = Array.from({ length: 1000 }, (_, i) =>
        deadlines.add(10 + i, () => fired.push(i)),
      );
      for (const [i, handle] of handles.entries()) if (i !== 500) deadlines.cancel(handle);
      yield* until(clock.runUntilIdle());
    });
    expect(fired).toEqual([500]);
  });

  it("fires nothing after close", async () => {
    const clock = createVirtualClock();
    let fired = false;
    await run(function* () {
      const deadlines = createDeadlines(yield* useScope(), clock);
      deadlines.add(10, () => {
        fired = true;
      });
      deadlines.close();
      yield* until(clock.advance(100));
    });
    expect(fired).toBe(false);
    expect(clock.pending).toBe(0);
  });
});
