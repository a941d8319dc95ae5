import { run, sleep, spawn } from "effection";
import { describe, expect, it } from "vitest";
import { ClockContext, delay, realClock, useClock, useSelector } from "../../src/index.js";
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

  it("wakes sleeps of one duration begun together in the order they began, the interrupted ones never", async () => {
    const woke: string[] = [];
    await run(function* () {
      const sleepers = ["a", "b", "c", "d"].map((name) =>
        spawn(function* () {
          yield* realClock.sleep(5);
          woke.push(name);
        }),
      );
      const tasks = [];
      for (const sleeper of sleepers) tasks.push(yield* sleeper);
      // every sleeper has begun its sleep: this 1 ms timer, set in the same turn as their 5 ms
      // one, falls due first, and Node fires due timers in order however late it runs them
      yield* sleep(0);
      yield* tasks[1].halt();
      for (const task of [tasks[0], tasks[2], tasks[3]]) yield* task;
    });
    expect(woke).toEqual(["a", "c", "d"]);
  });

  it("leaves no timer behind when every sleep of a batch is interrupted", async () => {
    // checkLeaksAfterEach fails the test if a host timer is left
    await run(function* () {
      const tasks = [];
      for (let i = 0; i < 3; i++) tasks.push(yield* spawn(() => realClock.sleep(60_000)));
      yield* sleep(0);
      for (const task of tasks) yield* task.halt();
    });
  });

  it("lets a selector item read the clock in context without a scope of its own", async () => {
    const clock = createVirtualClock();
    const task = run(function* () {
      yield* ClockContext.set(clock);
      const selector = yield* useSelector<string, string>();
      selector.add(
        "sets its own",
        (function* () {
          yield* delay(1);
          yield* ClockContext.set(realClock);
          return (yield* useClock()) === realClock ? "own clock" : "inherited";
        })(),
      );
      selector.add(
        "reads",
        (function* () {
          yield* delay(2);
          return (yield* useClock()) === clock ? "inherited" : "other";
        })(),
      );
      const values: string[] = [];
      while (values.length < 2)
        for (const { value } of yield* selector.select()) values.push(value);
      return values;
    });
    await clock.advance(2);
    expect(await task).toEqual(["own clock", "inherited"]);
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

  it("runs one delay operation more than once, and passes a halt through to the clock's sleep", async () => {
    const clock = createVirtualClock();
    const trace: string[] = [];
    // a clock whose sleep has cleanup of its own: a halt mid-sleep must reach its finally
    const traced = {
      now: () => clock.now(),
      sleepUntil: (time: number) => clock.sleepUntil(time),
      *sleep(ms: number) {
        try {
          yield* clock.sleep(ms);
        } finally {
          trace.push(`sleep ${ms} ended at ${clock.now()}`);
        }
      },
    };
    const task = run(function* () {
      yield* ClockContext.set(traced);
      const twice = delay(10);
      yield* twice;
      yield* twice;
      const sleeper = yield* spawn(() => delay(1_000));
      yield* delay(5);
      yield* sleeper.halt();
    });
    for (let i = 0; i < 5; i++) await clock.advance(5);
    await task;
    expect(trace).toEqual([
      "sleep 10 ended at 10",
      "sleep 10 ended at 20",
      "sleep 5 ended at 25",
      "sleep 1000 ended at 25",
    ]);
  });
});
