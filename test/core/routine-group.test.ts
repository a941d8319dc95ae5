import { type Operation, run, spawn, suspend, until, useScope } from "effection";
import { describe, expect, it } from "vitest";
import { ClockContext, delay } from "../../src/core/clock.js";
import { RoutineGroup } from "../../src/core/routine-group.js";
import { createVirtualClock } from "../../src/testing/virtual-clock.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { runWithVirtualClock } from "../helpers/virtual-time.js";

checkLeaksAfterEach();

/** A group whose reports are written to `log` as "name: what". */
function* useLoggedGroup(log: string[]): Operation<RoutineGroup<string, string, number>> {
  return new RoutineGroup<string, string, number>(yield* useScope(), {
    returned: (name, extra, value) => log.push(`${name}/${extra}: returned ${value}`),
    failed: (name, extra, error, halted) =>
      log.push(`${name}/${extra}: ${halted ? "cleanup failed" : "failed"} ${String(error)}`),
    halted: (name, extra) => log.push(`${name}/${extra}: halted`),
  });
}

/** Starts a member per name (tag 0) that waits until halted, then runs `cleanup(name)`. */
function startWaiting(
  group: RoutineGroup<string, string, number>,
  names: string[],
  cleanup: (name: string) => Operation<void>,
): void {
  for (const name of names) {
    group.start(
      name,
      0,
      (function* (): Operation<string> {
        try {
          yield* suspend();
          return name;
        } finally {
          yield* cleanup(name);
        }
      })(),
    );
  }
}

describe("RoutineGroup", () => {
  it("reports an operation that ends without suspending at once, and keeps no member for it", async () => {
    const log: string[] = [];
    await run(function* () {
      const group = yield* useLoggedGroup(log);
      expect(
        group.start(
          "a",
          1,
          (function* () {
            return "x";
          })(),
        ),
      ).toBeUndefined();
      expect(
        group.start(
          "b",
          2,
          (function* (): Operation<string> {
            throw "nope";
          })(),
        ),
      ).toBeUndefined();
      expect(group.size).toBe(0);
    });
    expect(log).toEqual(["a/1: returned x", "b/2: failed nope"]);
  });

  it("runs an operation that suspends as a member and reports how it ends", async () => {
    const log: string[] = [];
    const clock = createVirtualClock();
    await run(function* () {
      yield* ClockContext.set(clock);
      const group = yield* useLoggedGroup(log);
      const member = group.start(
        "nap",
        7,
        (function* () {
          yield* clock.sleep(10);
          return "rested";
        })(),
      );
      expect(member?.key).toBe("nap");
      expect(group.size).toBe(1);
      yield* until(clock.advance(10));
      yield* group.whenEmpty();
      expect(group.size).toBe(0);
    });
    expect(log).toEqual(["nap/7: returned rested"]);
  });

  it("reports a halted member as halted, or as a failed cleanup, and its halt() throws that too", async () => {
    const log: string[] = [];
    await runWithVirtualClock(function* () {
      const group = yield* useLoggedGroup(log);
      const quiet = group.start("quiet", 1, suspend() as Operation<never>);
      const noisy = group.start(
        "noisy",
        2,
        (function* (): Operation<string> {
          try {
            yield* suspend();
            return "never";
          } finally {
            yield* delay(0);
            // biome-ignore lint/correctness/noUnsafeFinally: a cleanup that fails is the point
            throw new Error("cleanup broke");
          }
        })(),
      );
      yield* quiet!.halt();
      let thrown: unknown;
      try {
        yield* noisy!.halt();
      } catch (error) {
        thrown = error;
      }
      expect((thrown as Error).message).toBe("cleanup broke");
    });
    expect(log).toEqual(["quiet/1: halted", "noisy/2: cleanup failed Error: cleanup broke"]);
  });

  it("close() halts its members newest first, each after the one before has cleaned up, and throws the last failure as a scope does", async () => {
    const log: string[] = [];
    await runWithVirtualClock(function* () {
      const group = yield* useLoggedGroup(log);
      startWaiting(group, ["a", "b", "c"], function* (name) {
        yield* delay(1);
        log.push(`${name} cleaned`);
        if (name !== "a") throw new Error(`${name} broke`);
      });
      const names: string[] = [];
      group.forEach((member) => {
        names.push(member.key);
      });
      expect(names).toEqual(["c", "b", "a"]); // newest first
      let thrown: unknown;
      try {
        yield* group.close();
      } catch (error) {
        thrown = error;
      }
      expect((thrown as Error).message).toBe("b broke"); // c's, then b's cleanup threw
      expect(group.size).toBe(0);
    });
    expect(log.filter((line) => line.endsWith("cleaned"))).toEqual([
      "c cleaned",
      "b cleaned",
      "a cleaned",
    ]);
  });

  it("close() that is itself halted halts the members it had not reached yet, so none outlives it", async () => {
    const log: string[] = [];
    await runWithVirtualClock(function* () {
      const group = yield* useLoggedGroup(log);
      startWaiting(group, ["a", "b"], function* (name) {
        log.push(`${name} cleanup`);
        if (name === "b") yield* delay(10); // b cleans up slowly
        log.push(`${name} cleaned`);
      });
      const closer = yield* spawn(() => group.close());
      yield* delay(1); // b is cleaning up; a waits its turn
      expect(log).toEqual(["b cleanup"]);
      yield* closer.halt();
      yield* group.whenEmpty();
    });
    // a is halted as soon as close() is; b finishes its cleanup in its own time
    expect(log).toEqual([
      "b cleanup",
      "a cleanup",
      "a cleaned",
      "a/0: halted",
      "b cleaned",
      "b/0: halted",
    ]);
  });

  it("whenEmpty() returns at once for an empty group", async () => {
    await run(function* () {
      const group = yield* useLoggedGroup([]);
      yield* group.whenEmpty();
      expect(group.size).toBe(0);
    });
  });
});
