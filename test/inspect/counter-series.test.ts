import { describe, expect, it } from "vitest";
import { createCounterSeries } from "../../src/inspect/counter-series.js";
import { createCounters } from "../../src/inspect/counters.js";

describe("createCounterSeries", () => {
  it("keeps the last samples of every numeric counter, oldest first", () => {
    const counters = createCounters();
    const series = createCounterSeries(counters, { samples: 3 });
    counters.set("lastError", "none yet");
    for (const n of [1, 2, 3, 4]) {
      counters.set("queued", n);
      series.sample();
    }
    expect(series.get()).toEqual({ queued: [2, 3, 4] });
    expect(series.capacity).toBe(3);
  });

  it("starts a counter's series at the first sample that sees it", () => {
    const counters = createCounters();
    const series = createCounterSeries(counters);
    series.sample();
    counters.inc("rows");
    series.sample();
    counters.inc("rows", 2);
    series.sample();
    expect(series.get()).toEqual({ rows: [1, 3] });
    expect(series.capacity).toBe(60);
  });

  it("refuses a sample count that is not a positive integer", () => {
    expect(() => createCounterSeries(createCounters(), { samples: 0 })).toThrow(TypeError);
  });
});
