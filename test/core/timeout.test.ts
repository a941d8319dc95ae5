import { suspend } from "effection";
import { describe, expect, it } from "vitest";
import { delay, TimeoutError, withTimeout } from "../../src/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { startWithVirtualClock } from "../helpers/virtual-time.js";

checkLeaksAfterEach();

describe("withTimeout", () => {
  it("returns the value of an operation that finishes in time", async () => {
    const { clock, task, dispose } = startWithVirtualClock((_clock) =>
      withTimeout(
        100,
        (function* () {
          yield* delay(99);
          return "in time";
        })(),
      ),
    );
    await clock.advance(99);
    expect(await task).toBe("in time");
    expect(clock.pending).toBe(0);
    await dispose();
  });

  it("throws TimeoutError at the limit and halts the operation first", async () => {
    let cleaned = false;
    const { clock, task, dispose } = startWithVirtualClock((_clock) =>
      withTimeout(
        100,
        (function* () {
          try {
            yield* suspend();
          } finally {
            cleaned = true;
          }
        })(),
      ),
    );
    const outcome = task.then(
      () => undefined,
      (e: unknown) => e,
    );
    await clock.advance(99);
    expect(cleaned).toBe(false);
    await clock.advance(1);
    const error = (await outcome) as TimeoutError;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.code).toBe("BOUGH_CORE_TIMEOUT");
    expect(error.ms).toBe(100);
    expect(cleaned).toBe(true);
    await dispose();
  });

  it("never fires with Infinity", async () => {
    const { clock, task, dispose } = startWithVirtualClock((_clock) =>
      withTimeout(
        Number.POSITIVE_INFINITY,
        (function* () {
          yield* delay(1e9);
          return "late but fine";
        })(),
      ),
    );
    await clock.advance(1e9);
    expect(await task).toBe("late but fine");
    await dispose();
  });

  it("rejects a negative or NaN limit with a TypeError", async () => {
    const { task, dispose } = startWithVirtualClock(() => withTimeout(Number.NaN, suspend()));
    await expect(task).rejects.toThrow(TypeError);
    await dispose();
  });
});
