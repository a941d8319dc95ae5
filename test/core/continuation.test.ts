import { type Effect, run, sleep, suspend } from "effection";
import { describe, expect, it } from "vitest";
import { delay } from "../../src/core/clock.js";
import { Continuation } from "../../src/core/continuation.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { runWithVirtualClock } from "../helpers/virtual-time.js";

checkLeaksAfterEach();

/** Takes an operation's first step, as the selector and the server do. */
function firstStep<T>(op: () => Generator<Effect<unknown>, T, unknown>) {
  const iterator = op()[Symbol.iterator]();
  const step = iterator.next();
  if (step.done) throw new Error("expected the operation to suspend");
  return new Continuation(iterator, step.value);
}

describe("Continuation", () => {
  it("continues an operation exactly where its first step left it", async () => {
    const steps: string[] = [];
    const rest = firstStep(function* () {
      steps.push("first");
      yield* delay(1);
      steps.push("second");
      return 42;
    });
    expect(steps).toEqual(["first"]);
    expect(rest.started).toBe(false);
    expect(await runWithVirtualClock(() => rest)).toBe(42);
    expect(steps).toEqual(["first", "second"]);
  });

  it("runs the operation's finally blocks when it is halted", async () => {
    let cleaned = false;
    let suspended!: () => void;
    const waiting = new Promise<void>((resolve) => {
      suspended = resolve;
    });
    const rest = firstStep(function* () {
      try {
        yield* sleep(0); // effection's real sleep; the test waits for the event after it
        suspended();
        yield* suspend();
      } finally {
        cleaned = true;
      }
    });
    const task = run(() => rest);
    await waiting;
    await task.halt();
    expect(cleaned).toBe(true);
  });

  it("closes an operation nobody drove, running its finally blocks even when they suspend", async () => {
    const steps: string[] = [];
    const rest = firstStep(function* () {
      try {
        steps.push("first");
        yield* suspend();
      } finally {
        yield* delay(1);
        steps.push("cleaned");
      }
    });
    await runWithVirtualClock(() => rest.close());
    expect(steps).toEqual(["first", "cleaned"]);
    expect(rest.started).toBe(true);
    // closing twice does nothing
    await runWithVirtualClock(() => rest.close());
    expect(steps).toEqual(["first", "cleaned"]);
  });
});
