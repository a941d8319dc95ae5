import type { Operation } from "effection";
import { describe, expect, it } from "vitest";
import { retry } from "../../src/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { startWithVirtualClock } from "../helpers/virtual-time.js";

checkLeaksAfterEach();

describe("retry", () => {
  it("retries failures with backoff until one attempt succeeds", async () => {
    const times: number[] = [];
    const { clock, task, dispose } = startWithVirtualClock((clock) =>
      retry(
        function* (attempt) {
          times.push(clock.now());
          if (attempt < 2) throw new Error("not yet");
          return attempt;
        },
        { attempts: 5, backoff: { initialMs: 50, jitter: 0 } },
      ),
    );
    await clock.runUntilIdle();
    expect(await task).toBe(2);
    expect(times).toEqual([0, 50, 150]);
    await dispose();
  });

  it("throws the last error when the attempts run out", async () => {
    let n = 0;
    const { clock, task, dispose } = startWithVirtualClock((_clock) =>
      retry(
        function* (): Operation<never> {
          throw new Error(`attempt ${++n}`);
        },
        { attempts: 3, backoff: { initialMs: 1, jitter: 0 } },
      ),
    );
    const outcome = task.then(
      () => undefined,
      (e: unknown) => e,
    );
    await clock.runUntilIdle();
    expect(((await outcome) as Error).message).toBe("attempt 3");
    await dispose();
  });

  it("does not retry errors that retryIf refuses", async () => {
    let n = 0;
    const { clock, task, dispose } = startWithVirtualClock((_clock) =>
      retry(
        function* (): Operation<never> {
          n++;
          throw new RangeError("fatal");
        },
        { attempts: 5, retryIf: (e) => !(e instanceof RangeError) },
      ),
    );
    await clock.runUntilIdle();
    await expect(task).rejects.toThrow(RangeError);
    expect(n).toBe(1);
    await dispose();
  });

  it("rejects attempts below 1 with a TypeError", async () => {
    const { task, dispose } = startWithVirtualClock(() => retry(function* () {}, { attempts: 0 }));
    await expect(task).rejects.toThrow(TypeError);
    await dispose();
  });
});
