import { describe, expect, it } from "vitest";
import { backoffDelay } from "../../src/index.js";

describe("backoffDelay", () => {
  it("grows exponentially from initialMs and stops at maxMs", () => {
    const delays = [0, 1, 2, 3, 10].map((n) =>
      backoffDelay(n, { initialMs: 100, maxMs: 1000, jitter: 0 }),
    );
    expect(delays).toEqual([100, 200, 400, 800, 1000]);
  });

  it("spreads the delay by at most the jitter fraction", () => {
    expect(backoffDelay(0, { initialMs: 100, jitter: 0.2 }, () => 0)).toBe(80);
    expect(backoffDelay(0, { initialMs: 100, jitter: 0.2 }, () => 0.999999)).toBeCloseTo(120, 3);
    for (let i = 0; i < 1000; i++) {
      const d = backoffDelay(2, { initialMs: 100, jitter: 0.5 });
      expect(d).toBeGreaterThanOrEqual(200);
      expect(d).toBeLessThanOrEqual(600);
    }
  });
});
