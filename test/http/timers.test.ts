import { run, until, useScope } from "effection";
import { describe, expect, it } from "vitest";
import { createTimers } from "../../src/http/index.js";
import { createVirtualClock } from "../../src/testing/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";

checkLeaksAfterEach();

describe("createTimers", () => {
  it("calls every member of a period on each tick, and stops when the period is empty", async () => {
    const clock = createVirtualClock();
    await run(function* () {
      const timers = createTimers(yield* useScope(), clock);
      const calls: string[] = [];
      const stopA = timers.every(100, () => calls.push(`a@${clock.now()}`));
      const stopB = timers.every(100, () => calls.push(`b@${clock.now()}`));
      timers.every(250, () => calls.push(`c@${clock.now()}`));
      yield* until(clock.advance(300));
      expect(calls).toEqual(
        ["a@100", "b@100", "a@200", "c@250", "b@200", "a@300", "b@300"].sort(byTime),
      );
      stopA();
      stopB();
      yield* until(clock.advance(100));
      expect(calls.filter((c) => c.startsWith("a"))).toHaveLength(3);
      // the 100 ms group noticed it is empty and ended; only the 250 ms group still sleeps
      expect(clock.pending).toBe(1);
    });
  });

  it("fires delays in order, skips cancelled ones and ends when the queue is empty", async () => {
    const clock = createVirtualClock();
    await run(function* () {
      const timers = createTimers(yield* useScope(), clock);
      const fired: string[] = [];
      timers.after(1000, () => fired.push("first"));
      yield* until(clock.advance(10));
      const cancel = timers.after(1000, () => fired.push("cancelled"));
      yield* until(clock.advance(10));
      timers.after(1000, () => fired.push("third"));
      timers.after(50, () => fired.push("short"));
      cancel();
      yield* until(clock.advance(100));
      expect(fired).toEqual(["short"]);
      yield* until(clock.advance(900));
      expect(fired).toEqual(["short", "first", "third"]);
      expect(clock.pending).toBe(0);
      timers.after(5, () => fired.push("again"));
      yield* until(clock.advance(5));
      expect(fired.at(-1)).toBe("again");
    });
  });

  it("fires many deadlines of one delay together from a single timer", async () => {
    const clock = createVirtualClock();
    await run(function* () {
      const timers = createTimers(yield* useScope(), clock);
      let fired = 0;
      for (let i = 0; i < 5000; i++) timers.after(30_000, () => fired++);
      yield* until(clock.flush());
      expect(clock.pending).toBe(1);
      yield* until(clock.advance(30_000));
      expect(fired).toBe(5000);
    });
  });
});

function byTime(a: string, b: string) {
  return Number(a.split("@")[1]) - Number(b.split("@")[1]);
}
