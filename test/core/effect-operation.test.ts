import { Ok, type Result, run, sleep, spawn, suspend } from "effection";
import { describe, expect, it } from "vitest";
import { EffectOperation, exitAtOnce } from "../../src/core/effect-operation.js";
import { useSelector } from "../../src/core/selector.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";

checkLeaksAfterEach();

/** Resolves with the next number at once; counts how often it was entered. */
class Counter extends EffectOperation<number> {
  readonly description = "count";
  constructor(private readonly counts: { entered: number }) {
    super();
  }
  enter(resolve: (result: Result<number>) => void) {
    resolve(Ok(++this.counts.entered));
    return exitAtOnce;
  }
  protected again(): Counter {
    return new Counter(this.counts);
  }
}

/** Never resolves; records its exit. */
class Forever extends EffectOperation<never> {
  readonly description = "forever";
  constructor(private readonly trace: string[]) {
    super();
  }
  enter() {
    this.trace.push("entered");
    return (didExit: (result: Result<void>) => void) => {
      this.trace.push("exited");
      didExit(Ok());
    };
  }
  protected again(): Forever {
    return new Forever(this.trace);
  }
}

describe("EffectOperation", () => {
  it("performs its effect once per run and returns what it resolved with, however often it is run", async () => {
    const counts = { entered: 0 };
    const op = new Counter(counts);
    expect(
      await run(function* () {
        return [yield* op, yield* op, yield* op];
      }),
    ).toEqual([1, 2, 3]);
  });

  it("runs the same in a selector item and is exited when its item is halted", async () => {
    const trace: string[] = [];
    await run(function* () {
      const selector = yield* useSelector<never, string>();
      const item = selector.add("forever", new Forever(trace));
      yield* item.halt();
      const task = yield* spawn(() => new Forever(trace));
      while (trace.length < 3) yield* sleep(0); // until the task took its first step
      yield* task.halt();
    });
    expect(trace).toEqual(["entered", "exited", "entered", "exited"]);
  });

  it("passes a failure thrown into it on to the operation that runs it", async () => {
    class Failing extends EffectOperation<void> {
      readonly description = "fail";
      enter(resolve: (result: Result<void>) => void) {
        resolve({ ok: false, error: new Error("boom") });
        return exitAtOnce;
      }
      protected again() {
        return new Failing();
      }
    }
    const caught = await run(function* () {
      try {
        yield* new Failing();
        yield* suspend();
      } catch (error) {
        return (error as Error).message;
      }
    });
    expect(caught).toBe("boom");
  });
});
