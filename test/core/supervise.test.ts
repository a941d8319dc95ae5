import { type Operation, suspend } from "effection";
import { describe, expect, it } from "vitest";
import { delay, SupervisorGaveUpError, supervise } from "../../src/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { startWithVirtualClock } from "../helpers/virtual-time.js";

checkLeaksAfterEach();

describe("supervise", () => {
  it("restarts a failing child with exponential backoff and returns its first success", async () => {
    const startedAt: number[] = [];
    const { clock, task, dispose } = startWithVirtualClock((clock) =>
      supervise(
        function* () {
          startedAt.push(clock.now());
          if (startedAt.length < 4) throw new Error(`fail ${startedAt.length}`);
          return "ok";
        },
        {
          backoff: { initialMs: 100, factor: 2, jitter: 0 },
          intensity: { maxRestarts: 5, withinMs: 60_000 },
        },
      ),
    );
    await clock.runUntilIdle();
    expect(await task).toBe("ok");
    expect(startedAt).toEqual([0, 100, 300, 700]);
    await dispose();
  });

  it("gives up with SupervisorGaveUpError carrying the last error", async () => {
    let runs = 0;
    const { clock, task, dispose } = startWithVirtualClock((_clock) =>
      supervise(
        function* (): Operation<never> {
          runs++;
          throw new Error(`failure ${runs}`);
        },
        { backoff: { initialMs: 10, jitter: 0 }, intensity: { maxRestarts: 3, withinMs: 10_000 } },
      ),
    );
    const outcome = task.then(
      () => undefined,
      (e: unknown) => e,
    );
    await clock.runUntilIdle();
    const error = (await outcome) as SupervisorGaveUpError;
    expect(error).toBeInstanceOf(SupervisorGaveUpError);
    expect(error.code).toBe("BOUGH_CORE_SUPERVISOR_GAVE_UP");
    expect((error.lastError as Error).message).toBe("failure 4");
    expect(error.restarts).toBe(3);
    expect(runs).toBe(4);
    await dispose();
  });

  it("forgets restarts older than the intensity window", async () => {
    let runs = 0;
    const { clock, task, dispose } = startWithVirtualClock((_clock) =>
      supervise(
        function* () {
          runs++;
          yield* delay(1000);
          if (runs < 6) throw new Error("slow failure");
          return runs;
        },
        { backoff: { initialMs: 10, jitter: 0 }, intensity: { maxRestarts: 1, withinMs: 500 } },
      ),
    );
    await clock.runUntilIdle();
    expect(await task).toBe(6);
    await dispose();
  });

  it("restarts after a normal return with restart: always", async () => {
    let runs = 0;
    const { clock, task, dispose } = startWithVirtualClock((_clock) =>
      supervise(
        function* () {
          runs++;
          yield* delay(100);
        },
        {
          restart: "always",
          backoff: { initialMs: 0, jitter: 0 },
          intensity: { maxRestarts: 100, withinMs: 1000 },
        },
      ),
    );
    await clock.advance(1050);
    expect(runs).toBe(11);
    await task.halt();
    await dispose();
  });

  it("halts the child when the supervisor is halted, without restarting it", async () => {
    let runs = 0;
    let cleaned = 0;
    const { clock, task, dispose } = startWithVirtualClock((_clock) =>
      supervise(function* () {
        runs++;
        try {
          yield* suspend();
        } finally {
          cleaned++;
        }
      }),
    );
    await clock.flush();
    await task.halt();
    expect(runs).toBe(1);
    expect(cleaned).toBe(1);
    expect(clock.pending).toBe(0);
    await dispose();
  });

  it("rejects an unknown restart policy with a TypeError", async () => {
    const { task, dispose } = startWithVirtualClock(() =>
      supervise(function* () {}, { restart: "never" as "always" }),
    );
    await expect(task).rejects.toThrow(TypeError);
    await dispose();
  });
});
