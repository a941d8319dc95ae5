import { createScope, Err, scoped, spawn, suspend, useScope } from "effection";
import { describe, expect, it } from "vitest";
import { delay } from "../../src/core/clock.js";
import {
  beforeOutsideDestroy,
  createChildScope,
  createTaskGroup,
  installedVersion,
  isHaltError,
  lightRoutines,
  selfCheck,
  TaskGroupContext,
  TESTED_WITH,
  thrownValue,
} from "../../src/core/effection-internals.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { runWithVirtualClock } from "../helpers/virtual-time.js";

checkLeaksAfterEach();

describe("effection internals", () => {
  it("passes its self-check against the installed effection, so light routines are on", () => {
    expect(selfCheck()).toBeUndefined();
    // the suite also runs with BOUGH_LIGHT_ROUTINES=off, which forces the fallback
    expect(lightRoutines).toBe(process.env.BOUGH_LIGHT_ROUTINES !== "off");
  });

  it("runs what beforeOutsideDestroy() was given before a scope its parent destroys, and not when its owner destroys it", async () => {
    const events: string[] = [];
    await runWithVirtualClock(function* () {
      let own: (() => import("effection").Operation<void>) | undefined;
      yield* scoped(function* () {
        const parent = yield* useScope();
        for (const name of ["outside", "own"]) {
          const [child, destroy] = createChildScope(parent);
          child.run(function* () {
            try {
              yield* suspend();
            } finally {
              events.push(`${name}'s task halted`);
            }
          });
          beforeOutsideDestroy(
            child,
            () => true,
            function* () {
              events.push(`before ${name}`);
            },
          );
          if (name === "own") own = destroy;
        }
        yield* delay(1); // both tasks have started
        // its owner destroys "own" itself (through the destroyer it was given)
        yield* (own as () => import("effection").Operation<void>)();
        events.push("own destroyed");
      });
    });
    // the destroyer its owner holds passes through the middleware as well: the owner decides
    // with `outside()` (here always true); scoped()'s end destroys "outside" from outside
    expect(events).toEqual([
      "before own",
      "own's task halted",
      "own destroyed",
      "before outside",
      "outside's task halted",
    ]);
  });

  it("reads the installed effection's version", () => {
    expect(installedVersion()).toBe(TESTED_WITH);
  });

  it("gives back a non-Error value that effection wrapped", () => {
    const wrapped = (Err("nope" as unknown as Error) as { error: Error }).error;
    expect(wrapped).toBeInstanceOf(Error);
    expect(thrownValue(wrapped)).toBe("nope");
    const plain = new Error("plain");
    expect(thrownValue(plain)).toBe(plain);
  });

  it("recognises the error effection halts a task with", async () => {
    const [scope, destroy] = createScope();
    const task = scope.run(suspend);
    await task.halt();
    const error = await task.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isHaltError(error)).toBe(true);
    expect(isHaltError(new Error("halted, but mine"))).toBe(false);
    await destroy();
  });

  it("halts a task group newest first and throws the last failure", async () => {
    const order: string[] = [];
    const error = await runWithVirtualClock(function* () {
      const group = createTaskGroup();
      yield* TaskGroupContext.set(group);
      for (const name of ["a", "b", "c"]) {
        yield* spawn(function* () {
          try {
            yield* suspend();
          } finally {
            order.push(name);
            // biome-ignore lint/correctness/noUnsafeFinally: a failing cleanup is what is tested
            if (name !== "b") throw new Error(`cleanup ${name}`);
          }
        });
      }
      yield* delay(1); // let each take its first step
      expect(group.tasks.size).toBe(3);
      try {
        yield* group.halt();
      } catch (e) {
        return e as Error;
      }
    });
    expect(order).toEqual(["c", "b", "a"]);
    expect(error?.message).toBe("cleanup a");
  });
});
