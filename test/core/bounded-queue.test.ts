import { spawn } from "effection";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type BoundedQueue,
  createBoundedQueue,
  OVERFLOW_POLICIES,
  type OverflowPolicy,
} from "../../src/core/bounded-queue.js";
import { delay } from "../../src/core/clock.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { runWithVirtualClock } from "../helpers/virtual-time.js";

checkLeaksAfterEach();

/** The obviously correct queue: an array, and the policies written out the plain way. */
class ArrayModel {
  items: number[] = [];
  dropped = 0;
  closed = false;
  overflowed = false;
  constructor(
    readonly capacity: number,
    readonly overflow: OverflowPolicy,
    readonly maxWeight: number,
    readonly weigh: (item: number) => number,
  ) {}
  get weight(): number {
    return this.items.reduce((sum, item) => sum + this.weigh(item), 0);
  }
  fits(item: number): boolean {
    return this.items.length < this.capacity && this.weight + this.weigh(item) <= this.maxWeight;
  }
  get full(): boolean {
    return this.items.length >= this.capacity || this.weight >= this.maxWeight;
  }
  push(item: number, overflow = this.overflow): number {
    if (this.closed) return 0;
    if (this.fits(item)) {
      this.items.push(item);
      return 0;
    }
    let lost = 0;
    if (overflow === "drop-oldest" && this.weigh(item) <= this.maxWeight) {
      while (this.items.length > 0 && !this.fits(item)) {
        this.items.shift();
        lost++;
      }
    }
    if (this.fits(item)) this.items.push(item);
    else {
      lost++;
      if (overflow === "close") this.closed = this.overflowed = true;
    }
    this.dropped += lost;
    return lost;
  }
  shift(): number | undefined {
    return this.items.shift();
  }
}

type Command =
  | { kind: "push"; item: number; overflow?: OverflowPolicy }
  | { kind: "shift" }
  | { kind: "close" };

const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("push" as const), item: fc.nat(40) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("push" as const),
      item: fc.nat(40),
      overflow: fc.constantFrom(...OVERFLOW_POLICIES),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("shift" as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("close" as const) }) },
);

function observe(queue: BoundedQueue<number> | ArrayModel) {
  const items = queue instanceof ArrayModel ? [...queue.items] : [...queue];
  return {
    items,
    weight: queue.weight,
    dropped: queue.dropped,
    closed: queue.closed,
    overflowed: queue.overflowed,
    full: queue.full,
  };
}

describe("createBoundedQueue", () => {
  for (const overflow of OVERFLOW_POLICIES) {
    it(`behaves like an array under the "${overflow}" policy, for any sequence of pushes, shifts and a close`, () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 40 }),
          fc.option(fc.integer({ min: 1, max: 200 }), { nil: undefined }),
          fc.array(command, { maxLength: 300 }),
          (capacity, maxWeight, commands) => {
            // weights only when there is a weight bound, so both bounds are exercised
            const weigh = maxWeight === undefined ? () => 0 : (item: number) => item;
            const queue = createBoundedQueue<number>({
              capacity,
              overflow,
              maxWeight,
              weigh: maxWeight === undefined ? undefined : weigh,
            });
            const model = new ArrayModel(capacity, overflow, maxWeight ?? Infinity, weigh);
            for (const step of commands) {
              if (step.kind === "push") {
                expect(queue.push(step.item, step.overflow)).toBe(
                  model.push(step.item, step.overflow),
                );
              } else if (step.kind === "shift") {
                expect(queue.shift()).toBe(model.shift());
              } else {
                queue.close();
                model.closed = true;
              }
              expect(observe(queue)).toEqual(observe(model));
              expect([queue.size, queue.peek(), queue.last()]).toEqual([
                model.items.length,
                model.items[0],
                model.items[model.items.length - 1],
              ]);
            }
          },
        ),
        { numRuns: 300, seed: 20261202 },
      );
    });
  }

  it("keeps FIFO order while its slots grow around a wrapped head, up to a capacity that is not a power of two", () => {
    const queue = createBoundedQueue<number>({ capacity: 100 });
    const model: number[] = [];
    let next = 0;
    // interleave pushes and shifts so that the head wraps before each growth
    for (let round = 0; round < 2000; round++) {
      for (let i = 0; i < (round * 7) % 5; i++) {
        queue.push(next);
        model.push(next++);
        if (model.length > 100) model.shift();
      }
      if (round % 3 === 0) expect(queue.shift()).toBe(model.shift());
      expect(queue.size).toBe(model.length);
      expect(queue.at(0)).toBe(model[0]);
    }
  });

  it("rejects a capacity that is not a whole number >= 1, an unknown policy and a weight bound <= 0", () => {
    expect(() => createBoundedQueue({ capacity: 0 })).toThrow(RangeError);
    expect(() => createBoundedQueue({ capacity: 1.5 })).toThrow(RangeError);
    expect(() =>
      createBoundedQueue({ capacity: 1, overflow: "grow" as unknown as OverflowPolicy }),
    ).toThrow(RangeError);
    expect(() => createBoundedQueue({ capacity: 1, maxWeight: 0 })).toThrow(RangeError);
    expect(createBoundedQueue({ capacity: Infinity }).capacity).toBe(Infinity);
  });

  it("takes a queued item without suspending", async () => {
    await runWithVirtualClock(function* () {
      const queue = createBoundedQueue<string>({ capacity: 4 });
      queue.push("a");
      queue.push("b");
      expect(yield* queue.take()).toBe("a");
      expect(yield* queue.take()).toBe("b");
      expect(queue.arrived.waits).toBe(0);
    });
  });

  it("signals arrival only into an empty queue (and on close), so a fan-out wakes a reader once per batch", () => {
    const queue = createBoundedQueue<string>({ capacity: 4 });
    queue.push("a");
    expect(queue.arrived.signalled).toBe(true); // kept for the next wait
    queue.arrived.signalled = false;
    queue.push("b");
    expect(queue.arrived.signalled).toBe(false); // a reader that waits only while empty needs no more
    queue.shift();
    queue.shift();
    queue.push("c");
    expect(queue.arrived.signalled).toBe(true);
    queue.arrived.signalled = false;
    queue.close();
    expect(queue.arrived.signalled).toBe(true);
  });

  it("gives each of two takes made before either runs its own item", async () => {
    await runWithVirtualClock(function* () {
      const queue = createBoundedQueue<string>({ capacity: 4 });
      queue.push("a");
      queue.push("b");
      const first = queue.take();
      const second = queue.take();
      expect([yield* second, yield* first]).toEqual(["a", "b"]);
    });
  });

  it("wakes a waiting reader when an item arrives, and ends it when the queue closes", async () => {
    const log: unknown[] = [];
    await runWithVirtualClock(function* () {
      const queue = createBoundedQueue<string>({ capacity: 4 });
      const reader = yield* spawn(function* () {
        for (;;) {
          const item = yield* queue.take();
          log.push(item);
          if (item === undefined) return;
        }
      });
      yield* delay(0);
      expect(queue.arrived.waiting).toBe(1);
      queue.push("a");
      yield* delay(0);
      queue.push("b");
      queue.close();
      queue.push("ignored");
      yield* reader;
    });
    expect(log).toEqual(["a", "b", undefined]);
  });

  it("wakes a reader waiting with untilItem once per turn of the event loop with turn timing", async () => {
    await runWithVirtualClock(function* () {
      const queue = createBoundedQueue<number>({ capacity: 100, timing: "turn" });
      const batches: number[] = [];
      const reader = yield* spawn(function* () {
        while (batches.length < 2) {
          yield* queue.untilItem();
          let n = 0;
          while (queue.shift() !== undefined) n++;
          batches.push(n);
        }
      });
      yield* delay(0);
      for (let i = 0; i < 10; i++) queue.push(i);
      while (batches.length === 0) yield* delay(0);
      for (let i = 0; i < 3; i++) queue.push(i);
      yield* reader;
      expect(batches).toEqual([10, 3]);
    });
  });

  it("holds a block producer in untilRoom until the reader makes room, losing nothing", async () => {
    await runWithVirtualClock(function* () {
      const queue = createBoundedQueue<number>({ capacity: 2, overflow: "block" });
      const producer = yield* spawn(function* () {
        for (let i = 0; i < 10; i++) {
          yield* queue.untilRoom();
          expect(queue.push(i)).toBe(0);
        }
        queue.close();
      });
      const got: number[] = [];
      for (;;) {
        const item = yield* queue.take();
        if (item === undefined) break;
        got.push(item);
        yield* delay(0);
      }
      yield* producer;
      expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect([queue.dropped, queue.room.waits > 0]).toEqual([0, true]);
    });
  });

  it("releases a producer waiting for room when the queue closes", async () => {
    await runWithVirtualClock(function* () {
      const queue = createBoundedQueue<number>({ capacity: 1, overflow: "block" });
      queue.push(1);
      const producer = yield* spawn(function* () {
        yield* queue.untilRoom();
        return queue.push(2);
      });
      yield* delay(0);
      expect(queue.room.waiting).toBe(1);
      queue.close();
      expect(yield* producer).toBe(0);
      expect([...queue]).toEqual([1]);
    });
  });

  // each pause is a delay(0) on the virtual clock: a turn of the other side, the same on any machine
  it("keeps a block producer and a slow reader in order, whatever their pace", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.nat(3), { minLength: 1, maxLength: 30 }),
        fc.array(fc.nat(3), { minLength: 1, maxLength: 30 }),
        async (capacity, producerPauses, readerPauses) => {
          const got: number[] = [];
          await runWithVirtualClock(function* () {
            const queue = createBoundedQueue<number>({ capacity, overflow: "block" });
            yield* spawn(function* () {
              for (let i = 0; i < 40; i++) {
                yield* queue.untilRoom();
                queue.push(i);
                for (let k = 0; k < producerPauses[i % producerPauses.length]; k++) yield* delay(0);
              }
              queue.close();
            });
            for (let n = 0; ; n++) {
              const item = yield* queue.take();
              if (item === undefined) break;
              got.push(item);
              expect(queue.size).toBeLessThanOrEqual(capacity);
              for (let k = 0; k < readerPauses[n % readerPauses.length]; k++) yield* delay(0);
            }
            expect(queue.dropped).toBe(0);
          });
          expect(got).toEqual(Array.from({ length: 40 }, (_, i) => i));
        },
      ),
      { numRuns: 15, seed: 20261202 },
    );
  });
});
