import { run, sleep, spawn, until } from "effection";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { awaitPromise } from "../../src/core/await-promise.js";
import { useSelector } from "../../src/core/selector.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { type Program, programs, show } from "./conformance/program.js";
import {
  allowedDifference,
  asItem,
  asTask,
  type Observed,
  STUCK,
} from "./conformance/run-three-ways.js";

checkLeaksAfterEach();

describe("awaitPromise", () => {
  it("returns what the promise resolves with, in a task and in a selector item", async () => {
    expect(await run(() => awaitPromise(Promise.resolve(42)))).toBe(42);
    const values = await run(function* () {
      const selector = yield* useSelector<number, number>();
      for (let i = 0; i < 3; i++) selector.add(i, awaitPromise(Promise.resolve(i * 10)));
      const seen: number[] = [];
      while (seen.length < 3) for (const { value } of yield* selector.select()) seen.push(value);
      return seen.sort((a, b) => a - b);
    });
    expect(values).toEqual([0, 10, 20]);
  });

  it("throws what the promise rejects with, a non-Error as the value itself", async () => {
    const error = new Error("nope");
    await expect(run(() => awaitPromise(Promise.reject(error)))).rejects.toBe(error);
    const caught = await run(function* () {
      try {
        yield* awaitPromise(Promise.reject("just a string"));
        return "not thrown";
      } catch (thrown) {
        return thrown;
      }
    });
    expect(caught).toBe("just a string");
  });

  it("can be run more than once, each run waiting on the same promise", async () => {
    const op = awaitPromise(Promise.resolve("again"));
    expect(
      await run(function* () {
        return [yield* op, yield* op];
      }),
    ).toEqual(["again", "again"]);
  });

  it("ignores the promise's outcome once halted, and its finally blocks run", async () => {
    let reject!: (error: unknown) => void;
    const promise = new Promise<never>((_, r) => {
      reject = r;
    });
    const trace: string[] = [];
    await run(function* () {
      const task = yield* spawn(function* () {
        try {
          yield* awaitPromise(promise);
          trace.push("returned");
        } finally {
          trace.push("finally");
        }
      });
      yield* sleep(0);
      yield* task.halt();
      // rejected after the halt: handled (no unhandled rejection), and nobody resumes
      reject(new Error("too late"));
      yield* until(promise.catch(() => undefined));
    });
    expect(trace).toEqual(["finally"]);
  });

  it("behaves as effection's until() and call() in generated programs", async () => {
    // the same random programs, waiting on promises with effection's operations (the
    // reference, as a task) and with awaitPromise (as a task and as a selector item)
    await fc.assert(
      fc.asyncProperty(programs(), async (program: Program) => {
        const reference = await asTask({ ...program, promises: "effection" });
        fc.pre(reference.outcome !== STUCK);
        const asBoughTask = await asTask({ ...program, promises: "bough" });
        expect(asBoughTask, `as a task: ${show(program)}`).toEqual(reference);
        const item = await asItem({ ...program, promises: "bough" });
        if (!same(item, reference) && !allowedDifference(reference, item)) {
          expect(item, `as a selector item: ${show(program)}`).toEqual(reference);
        }
      }),
      { numRuns: Number(process.env.BOUGH_CONFORMANCE_RUNS ?? 300), seed: 20261203 },
    );
  }, 600_000);
});

function same(a: Observed, b: Observed): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
