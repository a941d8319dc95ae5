import { run, spawn, until, useScope } from "effection";
import { describe, expect, it } from "vitest";
import { createTimerSet } from "../../src/core/timer-set.js";
import { untilWithin } from "../../src/hub/until-within.js";
import { createVirtualClock } from "../../src/testing/virtual-clock.js";

const late = () => new Error("too late");

describe("untilWithin", () => {
  it("gives the promise's value, or its rejection, and cancels its deadline", async () => {
    await run(function* () {
      const timers = createTimerSet(yield* useScope(), createVirtualClock());
      expect(yield* untilWithin(timers, 100, Promise.resolve(7), late)).toBe(7);
      let thrown: unknown;
      try {
        yield* untilWithin(timers, 100, Promise.reject(new Error("boom")), late);
      } catch (error) {
        thrown = error;
      }
      expect((thrown as Error).message).toBe("boom");
      expect(timers.size).toBe(0);
    });
  });

  it("fails with the timeout's error once the clock passes the deadline", async () => {
    await run(function* () {
      const clock = createVirtualClock();
      const timers = createTimerSet(yield* useScope(), clock);
      let before = -1;
      yield* spawn(function* () {
        yield* until(clock.advance(99));
        before = timers.size;
        yield* until(clock.advance(1));
      });
      let thrown: unknown;
      try {
        yield* untilWithin(timers, 100, new Promise<number>(() => {}), late);
      } catch (error) {
        thrown = error;
      }
      expect(before).toBe(1);
      expect((thrown as Error).message).toBe("too late");
    });
  });
});
