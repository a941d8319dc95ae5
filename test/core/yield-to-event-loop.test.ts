import { run, spawn, suspend } from "effection";
import { describe, expect, it } from "vitest";
import { yieldToEventLoop } from "../../src/core/yield-to-event-loop.js";

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
});
