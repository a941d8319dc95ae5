import { createScope, run, until, useScope } from "effection";
import { describe, expect, it } from "vitest";
import { realClock } from "../../src/core/clock.js";
import { createTimerSet } from "../../src/core/timer-set.js";
import { createVirtualClock } from "../../src/testing/virtual-clock.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";

checkLeaksAfterEach();

describe("createTimerSet", () => {
  it("fires deadlines in time order on the clock, with one sleeper", async () => {
    const clock = createVirtualClock();
    const fired: string[] = [];
    await run(function* () {
      const timers = createTimerSet(yield* useScope(), clock);
      timers.add(300, () => fired.push("c"));
      timers.add(100, () => fired.push("a"));
      timers.add(200, () => fired.push("b"));
      expect(timers.size).toBe(3);
      yield* until(clock.flush());
      expect(clock.pending).toBe(1);
      yield* until(clock.advance(150));
      expect(fired).toEqual(["a"]);
      yield* until(clock.advance(150));
      expect(fired).toEqual(["a", "b", "c"]);
      expect(clock.pending).toBe(0);
      expect(timers.size).toBe(0);
    });
  });

  it("fires the deadlines of one instant in the order they were added", async () => {
    const clock = createVirtualClock();
    const fired: number[] = [];
    await run(function* () {
      const timers = createTimerSet(yield* useScope(), clock);
      for (let i = 0; i < 100; i++) timers.add(50, () => fired.push(i));
      yield* until(clock.advance(50));
    });
    expect(fired).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it("never fires a due deadline inside add(), even when its sleeper starts synchronously", async () => {
    // scope.run() from outside any operation starts its task at once, as a task
    // spawned from a light routine does; on the real clock a due sleep ends at once
    const [scope, destroy] = createScope();
    const timers = createTimerSet(scope, realClock);
    let fired = false;
    timers.add(realClock.now() - 1, () => {
      fired = true;
    });
    expect(fired).toBe(false);
    await new Promise((resolve) => setImmediate(resolve));
    expect(fired).toBe(true);
    await destroy();
  });

  it("does not fire a cancelled deadline, and cancelling twice is harmless", async () => {
    const clock = createVirtualClock();
    const fired: number[] = [];
    await run(function* () {
      const timers = createTimerSet(yield* useScope(), clock);
      const handles = Array.from({ length: 1000 }, (_, i) =>
        timers.add(10 + i, () => fired.push(i)),
      );
      for (const [i, handle] of handles.entries()) if (i !== 500) timers.cancel(handle);
      timers.cancel(handles[0]);
      timers.cancel(undefined);
      expect(timers.size).toBe(1);
      yield* until(clock.runUntilIdle());
    });
    expect(fired).toEqual([500]);
  });

  it("fires delays in order, skips cancelled ones and stops sleeping when none is left", async () => {
    const clock = createVirtualClock();
    await run(function* () {
      const timers = createTimerSet(yield* useScope(), clock);
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
      const timers = createTimerSet(yield* useScope(), clock);
      let fired = 0;
      for (let i = 0; i < 5000; i++) timers.after(30_000, () => fired++);
      yield* until(clock.flush());
      expect(clock.pending).toBe(1);
      yield* until(clock.advance(30_000));
      expect(fired).toBe(5000);
    });
  });

  it("calls every member of a period on each beat, and forgets a period left empty", async () => {
    const clock = createVirtualClock();
    await run(function* () {
      const timers = createTimerSet(yield* useScope(), clock);
      const calls: string[] = [];
      const stopA = timers.every(100, () => calls.push(`a@${clock.now()}`));
      const stopB = timers.every(100, () => calls.push(`b@${clock.now()}`));
      timers.every(250, () => calls.push(`c@${clock.now()}`));
      yield* until(clock.advance(300));
      expect(calls).toEqual(["a@100", "b@100", "a@200", "b@200", "c@250", "a@300", "b@300"]);
      stopA();
      stopB();
      yield* until(clock.advance(100));
      expect(calls.filter((c) => c.startsWith("a"))).toHaveLength(3);
      // the 100 ms period noticed it is empty; only the 250 ms one is left
      expect(timers.size).toBe(1);
      expect(clock.pending).toBe(1);
    });
  });

  it("ticks an object member of a period until it leaves, alongside function members", async () => {
    const clock = createVirtualClock();
    await run(function* () {
      const timers = createTimerSet(yield* useScope(), clock);
      const calls: string[] = [];
      const member = { tick: () => calls.push(`m@${clock.now()}`) };
      timers.join(100, member);
      const stop = timers.every(100, () => calls.push(`f@${clock.now()}`));
      yield* until(clock.advance(200));
      expect(calls).toEqual(["m@100", "f@100", "m@200", "f@200"]);
      timers.leave(100, member);
      timers.leave(100, member); // leaving twice is a no-op
      yield* until(clock.advance(100));
      expect(calls.slice(4)).toEqual(["f@300"]);
      stop();
      yield* until(clock.advance(100));
      expect(timers.size).toBe(0);
    });
  });

  it("fires nothing after close", async () => {
    const clock = createVirtualClock();
    let fired = false;
    await run(function* () {
      const timers = createTimerSet(yield* useScope(), clock);
      timers.add(10, () => {
        fired = true;
      });
      timers.every(5, () => {
        fired = true;
      });
      timers.close();
      timers.add(20, () => {
        fired = true;
      });
      yield* until(clock.advance(100));
    });
    expect(fired).toBe(false);
    expect(clock.pending).toBe(0);
  });

  it("lets a failing callback fail the set's scope instead of vanishing", async () => {
    const clock = createVirtualClock();
    const task = run(function* () {
      const timers = createTimerSet(yield* useScope(), clock);
      timers.add(10, () => {
        throw new Error("callback broke");
      });
      yield* until(clock.advance(10));
      yield* until(new Promise(() => {}));
    });
    await expect(task).rejects.toThrow("callback broke");
  });
});
