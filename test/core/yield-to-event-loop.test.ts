import { run, spawn, suspend } from "effection";
import { describe, expect, it } from "vitest";
import { yieldToEventLoop } from "../../src/core/yield-to-event-loop.js";
import { awaitPromise, useSelector } from "../../src/index.js";

describe("yieldToEventLoop", () => {
  it("resumes after the callbacks and promises already pending on this turn", async () => {
    const order: string[] = [];
    await run(function* () {
      setImmediate(() => order.push("immediate queued before"));
      Promise.resolve().then(() => order.push("promise"));
      yield* yieldToEventLoop();
      order.push("resumed");
      const again = yieldToEventLoop();
      yield* again;
      yield* again; // an operation object can be run again
      order.push("twice more");
    });
    expect(order).toEqual(["promise", "immediate queued before", "resumed", "twice more"]);
  });

  it("cancels its immediate when halted", async () => {
    await run(function* () {
      let resumed = false;
      const task = yield* spawn(function* () {
        yield* yieldToEventLoop();
        resumed = true;
        yield* suspend();
      });
      yield* task.halt();
      yield* yieldToEventLoop();
      expect(resumed).toBe(false);
    });
  });

  it("lets the items a loop added so far settle before it adds more", async () => {
    const sizes: number[] = [];
    const values: number[] = [];
    await run(function* () {
      const selector = yield* useSelector<number, number>();
      for (let i = 0; i < 6; i++) {
        selector.add(i, awaitPromise(Promise.resolve(i)));
        if ((i + 1) % 3 === 0) {
          sizes.push(selector.size);
          yield* yieldToEventLoop();
          sizes.push(selector.size);
          for (const { value } of yield* selector.select()) values.push(value);
        }
      }
    });
    // three waiting before each yield, none after it: each slice settled before the next began
    expect(sizes).toEqual([3, 0, 3, 0]);
    expect(values).toEqual([0, 1, 2, 3, 4, 5]);
  });
});
