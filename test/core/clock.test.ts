import { type Operation, run, sleep, spawn, type Task } from "effection";
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import {
  ClockContext,
  delay,
  realClock,
  type SelectorItem,
  useClock,
  useSelector,
} from "../../src/index.js";
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

  it("sleeps longer than Node's longest timeout (2^31 - 1 ms) without waking early", async () => {
    // Node (and vitest's fake timers, like it) run a setTimeout() of more than 2^31 - 1 ms after 1 ms
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    try {
      const month = 30 * 24 * 3600 * 1000;
      const woke: string[] = [];
      const task = run(function* () {
        const selector = yield* useSelector<void, string>();
        selector.add("delay item", delay(month));
        const sleeper = yield* spawn(function* () {
          yield* realClock.sleep(month);
          woke.push("sleep task");
        });
        const until = yield* spawn(function* () {
          yield* realClock.sleepUntil(realClock.now() + month);
          woke.push("sleepUntil task");
        });
        for (const { data } of yield* selector.select()) woke.push(data);
        yield* sleeper;
        yield* until;
      });
      await vi.advanceTimersByTimeAsync(month - 1);
      expect(woke).toEqual([]);
      await vi.advanceTimersByTimeAsync(1);
      await task;
      expect(woke.sort()).toEqual(["delay item", "sleep task", "sleepUntil task"]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("wakes and drops delays on the real clock as effection's sleep does, in tasks and selector items", async () => {
    // delay() enters the host sleep in the step that yields it, as effection's sleep() does
    // with a setTimeout() of its own: the same sleepers (tasks and selector items, some
    // halted at once) must wake through both, the halted ones never, and those of one host
    // duration (Node runs 0 ms as 1 ms) in the same order. Across durations the order
    // depends on the real time each began, through either.
    const sleeper = fc.record({
      ms: fc.integer({ min: 0, max: 3 }),
      as: fc.constantFrom("task" as const, "item" as const),
      halted: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(sleeper, { minLength: 1, maxLength: 8 }), async (sleepers) => {
        const byDuration = (woke: number[]) =>
          [1, 2, 3].map((ms) => woke.filter((i) => Math.max(1, sleepers[i].ms) === ms));
        const reference = byDuration(await wakeOrder(sleepers, sleep));
        const bough = byDuration(await wakeOrder(sleepers, delay));
        expect(bough, JSON.stringify(sleepers)).toEqual(reference);
      }),
      { numRuns: 40, seed: 20261203 },
    );
  });
});

interface Sleeper {
  ms: number;
  as: "task" | "item";
  halted: boolean;
}

/** Starts every sleeper in one step, halts the marked ones, and returns who woke, in order. */
function wakeOrder(
  sleepers: Sleeper[],
  sleepFor: (ms: number) => Operation<void>,
): Promise<number[]> {
  return run(function* () {
    const woke: number[] = [];
    const selector = yield* useSelector<void, number>();
    const started: (Task<void> | SelectorItem)[] = [];
    for (const [i, { ms, as }] of sleepers.entries()) {
      function* body(): Operation<void> {
        yield* sleepFor(ms);
        woke.push(i);
      }
      started.push(as === "task" ? yield* spawn(body) : selector.add(i, body()));
    }
    for (const [i, { halted }] of sleepers.entries()) if (halted) yield* started[i].halt();
    for (const [i, { as, halted }] of sleepers.entries())
      if (as === "task" && !halted) yield* started[i] as Task<void>;
    const items = sleepers.filter(({ as, halted }) => as === "item" && !halted).length;
    for (let seen = 0; seen < items; ) seen += (yield* selector.select()).length;
    return woke;
  });
}
