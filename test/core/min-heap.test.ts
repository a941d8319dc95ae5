import { describe, expect, it } from "vitest";
import { createMinHeap } from "../../src/core/min-heap.js";

describe("createMinHeap", () => {
  it("pops items in order, whatever order they were pushed in", () => {
    const heap = createMinHeap<number>((a, b) => a < b);
    const values = Array.from({ length: 1000 }, (_, i) => (i * 7919) % 1000);
    for (const v of values) heap.push(v);
    expect(heap.size).toBe(1000);
    expect(heap.peek()).toBe(0);
    const out: number[] = [];
    for (let v = heap.pop(); v !== undefined; v = heap.pop()) out.push(v);
    expect(out).toEqual([...values].sort((a, b) => a - b));
    expect(heap.pop()).toBeUndefined();
  });

  it("keeps the heap order after retain and empties on clear", () => {
    const heap = createMinHeap<number>((a, b) => a < b);
    for (let i = 100; i > 0; i--) heap.push(i);
    heap.retain((v) => v % 3 === 0);
    const out: number[] = [];
    for (let v = heap.pop(); v !== undefined; v = heap.pop()) out.push(v);
    expect(out).toEqual(Array.from({ length: 33 }, (_, i) => (i + 1) * 3));
    heap.push(5);
    heap.clear();
    expect(heap.size).toBe(0);
  });

  it("orders ties by whatever before() says", () => {
    const heap = createMinHeap<{ at: number; seq: number }>(
      (a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq),
    );
    heap.push({ at: 1, seq: 2 });
    heap.push({ at: 1, seq: 1 });
    heap.push({ at: 0, seq: 3 });
    expect([heap.pop()?.seq, heap.pop()?.seq, heap.pop()?.seq]).toEqual([3, 1, 2]);
  });
});
