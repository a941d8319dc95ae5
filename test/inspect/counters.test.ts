import { describe, expect, it } from "vitest";
import { createCounters } from "../../src/inspect/counters.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";

checkLeaksAfterEach();

describe("createCounters", () => {
  it("counts from zero and keeps facts, in the order they were first set", () => {
    const counters = createCounters();
    expect(counters.get()).toEqual({});
    expect(counters.inc("iterations")).toBe(1);
    counters.set("lastError", null);
    expect(counters.inc("iterations", 4)).toBe(5);
    counters.set("lastError", "row 7 failed");
    expect(counters.get()).toEqual({ iterations: 5, lastError: "row 7 failed" });
    expect(Object.keys(counters.get())).toEqual(["iterations", "lastError"]);
  });

  it("returns a copy that later updates do not change", () => {
    const counters = createCounters();
    counters.inc("n");
    const before = counters.get();
    counters.inc("n");
    expect(before).toEqual({ n: 1 });
  });

  it("refuses to add to something that is not a number", () => {
    const counters = createCounters();
    counters.set("state", "idle");
    expect(() => counters.inc("state")).toThrow(TypeError);
    expect(() => counters.inc("n", Number.NaN)).toThrow(/finite number/);
    expect(counters.get()).toEqual({ state: "idle" });
  });
});
