import { createScope, run, spawn } from "effection";
import { describe, expect, it } from "vitest";
import { ClockContext, delay } from "../../src/index.js";
import { createVirtualClock } from "../../src/testing/index.js";

describe("createVirtualClock", () => {
  it("fires timers in due order and lets woken tasks set new timers before the next fires", async () => {
    const clock = createVirtualClock();
    const log: string[] = [];
    const task = run(function* () {
      yield* ClockContext.set(clock);
      yield* spawn(function* () {
        yield* delay(30);
        log.push(`b@${clock.now()}`);
      });
      yield* delay(10);
      log.push(`a@${clock.now()}`);
      yield* delay(10); // due at 20, before b's 30
      log.push(`a2@${clock.now()}`);
      yield* delay(15);
    });
    await clock.advance(100);
    await task;
    expect(log).toEqual(["a@10", "a2@20", "b@30"]);
    expect(clock.now()).toBe(100);
  });

  it("removes the timer of a halted sleep", async () => {
    const clock = createVirtualClock();
    const scope = createScope();
    const task = scope.run(function* () {
      yield* ClockContext.set(clock);
      yield* delay(1000);
    });
    await clock.flush();
    expect(clock.pending).toBe(1);
    await task.halt();
    expect(clock.pending).toBe(0);
    await scope[Symbol.asyncDispose]();
  });

  it("refuses to run backwards and stops runUntilIdle on endless timers", async () => {
    const clock = createVirtualClock({ start: 50 });
    await expect(clock.advanceTo(10)).rejects.toThrow(RangeError);
    const scope = createScope();
    scope.run(function* () {
      yield* ClockContext.set(clock);
      for (;;) yield* delay(1);
    });
    await expect(clock.runUntilIdle(100)).rejects.toThrow(/more than 100 timers/);
    await scope[Symbol.asyncDispose]();
  });
});
