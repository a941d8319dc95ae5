import { run } from "effection";
import { describe, expect, it } from "vitest";
import { ClockContext, delay, realClock, useClock } from "../../src/index.js";
import { createVirtualClock } from "../../src/testing/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";

checkLeaksAfterEach();

describe("the clock", () => {
  it("is the real clock unless a scope sets another", async () => {
    await run(function* () {
      expect(yield* useClock()).toBe(realClock);
    });
  });

  it("sleeps at least the given time on the real clock", async () => {
    const t0 = performance.now();
    await run(() => realClock.sleep(15));
    expect(performance.now() - t0).toBeGreaterThanOrEqual(14);
  });

  it("never wakes sleepUntil before the target time", async () => {
    await run(function* () {
      const target = realClock.now() + 12;
      yield* realClock.sleepUntil(target);
      expect(realClock.now()).toBeGreaterThanOrEqual(target);
    });
  });

  it("makes delay follow the clock in context", async () => {
    const clock = createVirtualClock();
    let done = false;
    const task = run(function* () {
      yield* ClockContext.set(clock);
      yield* delay(60_000);
      done = true;
    });
    await clock.advance(59_999);
    expect(done).toBe(false);
    await clock.advance(1);
    await task;
    expect(done).toBe(true);
  });
});
