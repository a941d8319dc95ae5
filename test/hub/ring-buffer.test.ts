import { describe, expect, it } from "vitest";
import { createRingBuffer } from "../../src/hub/ring-buffer.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";

checkLeaksAfterEach();

describe("createRingBuffer", () => {
  it("is first in, first out across the wrap-around", () => {
    const ring = createRingBuffer<number>(6);
    const out: number[] = [];
    for (let i = 0; i < 10; i++) {
      ring.push(i);
      if (i % 2 === 1) out.push(ring.shift() as number);
    }
    while (ring.size > 0) out.push(ring.shift() as number);
    expect(out).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("discards and returns the oldest item when full", () => {
    const ring = createRingBuffer<string>(2);
    expect(ring.push("a")).toBeUndefined();
    expect(ring.push("b")).toBeUndefined();
    expect(ring.push("c")).toBe("a");
    expect([ring.peek(), ring.last(), ring.at(1), ring.at(2), ring.size]).toEqual([
      "b",
      "c",
      "c",
      undefined,
      2,
    ]);
  });

  it("keeps push and shift O(1) with a full buffer", () => {
    const ring = createRingBuffer<number>(100_000);
    for (let i = 0; i < 100_000; i++) ring.push(i);
    const t0 = performance.now();
    for (let i = 0; i < 1_000_000; i++) ring.push(i);
    const elapsed = performance.now() - t0;
    // Shifting an array of 100,000 items a million times would take minutes.
    expect(elapsed).toBeLessThan(2_000);
    expect(ring.peek()).toBe(900_000);
  });

  it("empties on clear and rejects a capacity below 1", () => {
    const ring = createRingBuffer<number>(4);
    ring.push(1);
    ring.clear();
    expect([ring.size, ring.shift(), ring.peek(), ring.last()]).toEqual([
      0,
      undefined,
      undefined,
      undefined,
    ]);
    expect(() => createRingBuffer(0)).toThrow(RangeError);
    expect(() => createRingBuffer(1.5)).toThrow(RangeError);
  });

  it("keeps FIFO order while its slots grow around a wrapped head, up to a capacity that is not a power of two", () => {
    const ring = createRingBuffer<number>(100);
    const model: number[] = [];
    let next = 0;
    // interleave pushes and shifts so that the head wraps before each growth
    for (let round = 0; round < 2000; round++) {
      const pushes = (round * 7) % 5;
      for (let i = 0; i < pushes; i++) {
        const dropped = ring.push(next);
        model.push(next++);
        if (model.length > 100) expect(dropped).toBe(model.shift());
        else expect(dropped).toBeUndefined();
      }
      if (round % 3 === 0) expect(ring.shift()).toBe(model.shift());
      expect(ring.size).toBe(model.length);
      expect(ring.peek()).toBe(model[0]);
      expect(ring.last()).toBe(model[model.length - 1]);
      expect(ring.at(model.length >> 1)).toBe(model[model.length >> 1]);
    }
    expect(ring.size).toBe(100);
  });
});
