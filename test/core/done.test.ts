import { run } from "effection";
import { describe, expect, it } from "vitest";
import { DONE, DONE_ITERATOR } from "../../src/core/done.js";

describe("DONE", () => {
  it("returns at once, however often it is used, and allocates no iterator of its own", async () => {
    const steps: string[] = [];
    await run(function* () {
      yield* DONE;
      steps.push("first");
      yield* DONE;
      steps.push("second");
    });
    expect(steps).toEqual(["first", "second"]);
    expect(DONE[Symbol.iterator]()).toBe(DONE_ITERATOR);
    expect(DONE_ITERATOR.next()).toEqual({ done: true, value: undefined });
  });
});
