import { type Operation, run, sleep, spawn, suspend } from "effection";
import { describe, expect, it } from "vitest";
import { delay } from "../../src/core/clock.js";
import { withLease } from "../../src/core/lease.js";
import { readPanels } from "../../src/core/panels.js";
import {
  CursorExpiredError,
  createMemoryBroker,
  type Hub,
  HubClosedError,
  InvalidCursorError,
  type Message,
  SubscriptionOverflowError,
  useHub,
} from "../../src/hub/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { thrown } from "../helpers/thrown.js";
import { startWithVirtualClock } from "../helpers/virtual-time.js";

checkLeaksAfterEach();

function* take<T>(
  sub: { next(): Operation<IteratorResult<Message<T>, never>> },
  n: number,
): Operation<T[]> {
  const values: T[] = [];
  for (let i = 0; i < n; i++) values.push((yield* sub.next()).value.value);
  return values;
}

function* publishAll<T>(hub: Hub<T>, values: T[]): Operation<void> {
  for (const value of values) yield* hub.publish(value);
}

/**
 * Runs `op` with a virtual clock in context, advancing it until `op` ends: a
 * `delay()` in a test then means "after everything else that can run has
 * run", whatever the machine's load, instead of a real sleep.
 */
async function runOnVirtualClock(op: () => Operation<void>): Promise<void> {
  const { clock, task, dispose } = startWithVirtualClock(op);
  let done = false;
  const settled = task.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  try {
    while (!done) await clock.advance(1);
    await settled;
    await task;
  } finally {
    await dispose();
  }
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe("useHub", () => {
  it("publishes messages with a sequence, a cursor id and a time", async () => {
    await run(function* () {
      const hub = yield* useHub<string>({ topic: "t" });
      const before = Date.now();
      const a = yield* hub.publish("a");
      const b = yield* hub.publish("b");
      expect(a).toMatchObject({ id: "1", seq: 1, value: "a" });
      expect(b).toMatchObject({ id: "2", seq: 2, value: "b" });
      expect(a.time).toBeGreaterThanOrEqual(before);
      expect(yield* hub.latest()).toBe(b);
    });
  });

  it("delivers every message in order to every subscriber", async () => {
    await runOnVirtualClock(function* () {
      const hub = yield* useHub<number>({ topic: "t", buffer: 8 });
      const subs = [yield* hub.subscribe(), yield* hub.subscribe(), yield* hub.subscribe()];
      const results = subs.map(() => [] as number[]);
      const tasks = [];
      for (const [i, sub] of subs.entries()) {
        tasks.push(
          yield* spawn(function* () {
            results[i] = yield* take(sub, 100);
          }),
        );
      }
      for (const n of range(0, 100)) {
        yield* hub.publish(n);
        if (n % 7 === 0) yield* delay(0);
      }
      for (const task of tasks) yield* task;
      for (const result of results) expect(result).toEqual(range(0, 100));
      expect(hub.stats()).toMatchObject({ published: 100, delivered: 300, subscribers: 3 });
    });
  });

  it("gives each of two next() operations made before either runs its own message", async () => {
    await run(function* () {
      const hub = yield* useHub<number>({ topic: "t", buffer: 8 });
      const sub = yield* hub.subscribe();
      yield* publishAll(hub, [1, 2, 3]);
      const first = sub.next()[Symbol.iterator]();
      const second = sub.next()[Symbol.iterator]();
      const a = (yield* { [Symbol.iterator]: () => first }).value.value;
      const b = (yield* { [Symbol.iterator]: () => second }).value.value;
      expect([a, b].sort()).toEqual([1, 2]);
      expect((yield* sub.next()).value.value).toBe(3);
    });
  });

  it("starts a subscription without a cursor at the next message", async () => {
    await run(function* () {
      const hub = yield* useHub<number>({ topic: "t" });
      yield* publishAll(hub, [1, 2]);
      const sub = yield* hub.subscribe();
      yield* hub.publish(3);
      expect(yield* take(sub, 1)).toEqual([3]);
    });
  });

  it("shows its subscribers, drops and how far behind they are on the inspector's panel", async () => {
    await run(function* () {
      const hub = yield* useHub<number>({ topic: "lagging", history: 100, buffer: 3 });
      const panel = () => readPanels().find((p) => p.kind === "hub" && p.name === "lagging");
      const stalled = yield* hub.subscribe(); // buffer 3, drop-oldest
      const fast = yield* hub.subscribe({ buffer: 100 });
      yield* publishAll(hub, range(0, 10));
      yield* take(fast, 4);
      expect(panel()?.values).toMatchObject({
        subscribers: 2,
        published: 10,
        dropped: { "drop-oldest": 7, "drop-newest": 0, close: 0, block: 0 },
        lag: { max: 6, total: 9, behind: 2 },
      });
      yield* take(fast, 6);
      expect(panel()?.values.lag).toEqual({ max: 3, total: 3, behind: 1 });
      // a subscriber replaying history after message 2 of 10 is 8 behind
      const replaying = yield* hub.subscribe({ after: "2" });
      expect(panel()?.values.lag).toEqual({ max: 8, total: 11, behind: 2 });
      yield* take(replaying, 8);
      yield* take(stalled, 3);
      expect(panel()?.values.lag).toEqual({ max: 0, total: 0, behind: 0 });
    });
    expect(readPanels().find((p) => p.name === "lagging")).toBeUndefined();
  });

  describe("with a stalled subscriber", () => {
    it("drop-oldest keeps the newest messages, counts the drops and never slows others", async () => {
      await run(function* () {
        const hub = yield* useHub<number>({ topic: "t", buffer: 3, overflow: "drop-oldest" });
        const stalled = yield* hub.subscribe();
        const fast = yield* hub.subscribe({ buffer: 100 });
        yield* publishAll(hub, range(0, 10));
        expect(yield* take(fast, 10)).toEqual(range(0, 10));
        expect(yield* take(stalled, 3)).toEqual([7, 8, 9]);
        expect(hub.stats().dropped).toEqual({
          "drop-oldest": 7,
          "drop-newest": 0,
          close: 0,
          block: 0,
        });
      });
    });

    it("drop-newest keeps the oldest messages and counts the drops", async () => {
      await run(function* () {
        const hub = yield* useHub<number>({ topic: "t", buffer: 3, overflow: "drop-newest" });
        const stalled = yield* hub.subscribe();
        yield* publishAll(hub, range(0, 10));
        expect(yield* take(stalled, 3)).toEqual([0, 1, 2]);
        yield* hub.publish(10);
        expect(yield* take(stalled, 1)).toEqual([10]);
        expect(hub.stats().dropped["drop-newest"]).toBe(7);
      });
    });

    it("close delivers what was buffered, then fails with SubscriptionOverflowError", async () => {
      await run(function* () {
        const hub = yield* useHub<number>({ topic: "t", buffer: 3, overflow: "close" });
        const stalled = yield* hub.subscribe();
        const other = yield* hub.subscribe({ overflow: "drop-oldest", buffer: 100 });
        yield* publishAll(hub, range(0, 10));
        expect(yield* take(stalled, 3)).toEqual([0, 1, 2]);
        let error: unknown;
        try {
          yield* stalled.next();
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(SubscriptionOverflowError);
        expect(error).toMatchObject({
          code: "BOUGH_HUB_SUBSCRIPTION_OVERFLOW",
          lastId: "3",
          buffer: 3,
        });
        expect(yield* take(other, 10)).toEqual(range(0, 10));
        expect(hub.stats()).toMatchObject({ closed: 1, subscribers: 1 });
        expect(hub.stats().dropped.close).toBe(1);
      });
    });

    it("block holds the publisher until the subscriber makes room, losing nothing", async () => {
      await runOnVirtualClock(function* () {
        const hub = yield* useHub<number>({ topic: "t", buffer: 2, overflow: "block" });
        const stalled = yield* hub.subscribe();
        let published = 0;
        yield* spawn(function* () {
          for (const n of range(0, 6)) {
            yield* hub.publish(n);
            published++;
          }
        });
        yield* delay(5);
        expect(published).toBe(2);
        expect(yield* take(stalled, 1)).toEqual([0]);
        yield* delay(5);
        expect(published).toBe(3);
        expect(yield* take(stalled, 5)).toEqual([1, 2, 3, 4, 5]);
        expect(published).toBe(6);
        const stats = hub.stats();
        expect(stats.blocked).toBeGreaterThan(0);
        expect(Object.values(stats.dropped)).toEqual([0, 0, 0, 0]);
      });
    });

    it("block releases the publisher when the full subscriber goes away", async () => {
      await runOnVirtualClock(function* () {
        const hub = yield* useHub<number>({ topic: "t", buffer: 1, overflow: "block" });
        const task = yield* spawn(function* () {
          yield* hub.subscribe();
          yield* suspend();
        });
        yield* delay(0);
        let published = 0;
        yield* spawn(function* () {
          for (const n of range(0, 3)) {
            yield* hub.publish(n);
            published++;
          }
        });
        yield* delay(5);
        expect(published).toBe(1);
        yield* task.halt();
        yield* delay(5);
        expect(published).toBe(3);
      });
    });
  });

  describe("subscribe({ after })", () => {
    it("replays history after the cursor, then continues live, without gap or duplicate", async () => {
      await runOnVirtualClock(function* () {
        const hub = yield* useHub<number>({ topic: "t", history: 100, buffer: 4 });
        yield* publishAll(hub, range(0, 50));
        const sub = yield* hub.subscribe({ after: "10" });
        const seen: number[] = [];
        const reader = yield* spawn(function* () {
          for (let i = 0; i < 90; i++) {
            seen.push((yield* sub.next()).value.value);
            if (i % 5 === 0) yield* delay(0);
          }
        });
        for (const n of range(50, 100)) {
          yield* hub.publish(n);
          if (n % 3 === 0) yield* delay(0);
        }
        yield* reader;
        expect(seen).toEqual(range(10, 100));
      });
    });

    it("fails with CursorExpiredError when the history no longer has the next message", async () => {
      await run(function* () {
        const hub = yield* useHub<number>({ topic: "t", history: 5 });
        yield* publishAll(hub, range(0, 20));
        let error: unknown;
        try {
          yield* hub.subscribe({ after: "3" });
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(CursorExpiredError);
        expect(error).toMatchObject({ reason: "trimmed", resetTo: "15", cursor: "3" });
        const sub = yield* hub.subscribe({ after: (error as CursorExpiredError).resetTo });
        expect(yield* take(sub, 5)).toEqual(range(15, 20));
      });
    });

    it("starts an expired cursor's lease at resetTo, or from now, when the consumer asks for a reset", async () => {
      await run(function* () {
        const hub = yield* useHub<number>({ topic: "t", history: 5 });
        yield* publishAll(hub, range(0, 20));
        const trimmed = yield* withLease(
          hub.subscribe({ after: "3" }),
          function* (sub, reset) {
            expect(reset).toMatchObject({ reason: "trimmed", resetTo: "15", cursor: "3" });
            return yield* take(sub, 5);
          },
          { onExpired: "reset" },
        );
        expect(trimmed).toEqual(range(15, 20));
        const ahead = yield* withLease(
          hub.subscribe({ after: "99" }),
          function* (sub, reset) {
            expect(reset).toMatchObject({ reason: "ahead", resetTo: undefined });
            yield* hub.publish(20);
            return yield* take(sub, 1);
          },
          { onExpired: "reset" },
        );
        expect(ahead).toEqual([20]);
        const bad = yield* thrown(
          withLease(hub.subscribe({ after: "x" }), function* () {}, { onExpired: "reset" }),
        );
        expect(bad).toBeInstanceOf(InvalidCursorError);
        expect(hub.stats().subscribers).toBe(0);
      });
    });

    it("rejects a cursor ahead of the topic and one that is not a cursor", async () => {
      await run(function* () {
        const hub = yield* useHub<number>({ topic: "t" });
        yield* hub.publish(1);
        const ahead = yield* thrown(hub.subscribe({ after: "7" }));
        expect(ahead).toBeInstanceOf(CursorExpiredError);
        expect(ahead).toMatchObject({ reason: "ahead", code: "BOUGH_CORE_CURSOR_EXPIRED" });
        expect(yield* thrown(hub.subscribe({ after: "x1" }))).toBeInstanceOf(InvalidCursorError);
        expect(hub.stats().subscribers).toBe(0);
      });
    });
  });

  describe("next()", () => {
    it("waits for the next message when given no cursor", async () => {
      await runOnVirtualClock(function* () {
        const hub = yield* useHub<string>({ topic: "t" });
        yield* hub.publish("old");
        const task = yield* spawn(() => hub.next());
        yield* delay(1);
        yield* hub.publish("new");
        expect((yield* task).value).toBe("new");
      });
    });

    it("returns at once from history when the cursor is behind", async () => {
      await run(function* () {
        const hub = yield* useHub<string>({ topic: "t" });
        yield* publishAll(hub, ["a", "b", "c"]);
        expect((yield* hub.next("0")).value).toBe("a");
        expect((yield* hub.next("1")).value).toBe("b");
        expect(yield* hub.next("2")).toMatchObject({ id: "3", value: "c" });
        expect(hub.stats().subscribers).toBe(0);
      });
    });

    it("waits when the cursor is the latest message", async () => {
      await runOnVirtualClock(function* () {
        const hub = yield* useHub<string>({ topic: "t" });
        const a = yield* hub.publish("a");
        const task = yield* spawn(() => hub.next(a.id));
        yield* delay(1);
        yield* publishAll(hub, ["b", "c"]);
        expect((yield* task).value).toBe("b");
        expect(hub.stats().dropped["drop-newest"]).toBe(0);
      });
    });

    it("fails with CursorExpiredError on a trimmed cursor", async () => {
      await run(function* () {
        const hub = yield* useHub<number>({ topic: "t", history: 2 });
        yield* publishAll(hub, [1, 2, 3, 4]);
        expect(yield* thrown(hub.next("1"))).toBeInstanceOf(CursorExpiredError);
        expect((yield* hub.next("2")).value).toBe(3);
      });
    });

    it("takes the first of a burst from now and counts one delivery", async () => {
      await runOnVirtualClock(function* () {
        const hub = yield* useHub<string>({ topic: "t" });
        yield* hub.publish("old");
        const waiters = [yield* spawn(() => hub.next()), yield* spawn(() => hub.next())];
        yield* delay(1);
        expect(hub.stats().subscribers).toBe(2);
        yield* publishAll(hub, ["a", "b", "c"]);
        for (const waiter of waiters) expect((yield* waiter).value).toBe("a");
        expect(hub.stats()).toMatchObject({ subscribers: 0, delivered: 2 });
      });
    });

    it("fails a next() still waiting when its hub closes with HubClosedError", async () => {
      await run(function* () {
        let waiting: Operation<unknown> | undefined;
        const scope = yield* spawn(function* () {
          const hub = yield* useHub<number>({ topic: "t" });
          waiting = hub.next();
          yield* suspend();
        });
        yield* sleep(1);
        const outcome = yield* spawn(() => thrown(waiting as Operation<unknown>));
        yield* sleep(1);
        yield* scope.halt();
        expect(yield* outcome).toBeInstanceOf(HubClosedError);
      });
    });

    it("leaves nothing behind when halted while waiting", async () => {
      await runOnVirtualClock(function* () {
        const hub = yield* useHub<number>({ topic: "t" });
        const waiting = yield* spawn(() => hub.next());
        const subscriber = yield* spawn(function* () {
          const sub = yield* hub.subscribe();
          yield* sub.next();
        });
        yield* delay(1);
        expect(hub.stats().subscribers).toBe(2);
        yield* waiting.halt();
        yield* subscriber.halt();
        expect(hub.stats().subscribers).toBe(0);
        yield* hub.publish(1);
        expect(hub.stats().delivered).toBe(0);
      });
    });
  });

  describe("nextBatch()", () => {
    it("returns every buffered message at once, in order, up to max", async () => {
      await run(function* () {
        const hub = yield* useHub<number>({ topic: "t" });
        const sub = yield* hub.subscribe();
        yield* publishAll(hub, range(0, 10));
        expect((yield* sub.nextBatch(4)).map((m) => m.value)).toEqual([0, 1, 2, 3]);
        expect((yield* sub.nextBatch()).map((m) => m.value)).toEqual(range(4, 10));
        expect(hub.stats().delivered).toBe(10);
      });
    });

    it("waits for the first message, and replays history in batches after a cursor", async () => {
      await runOnVirtualClock(function* () {
        const hub = yield* useHub<number>({ topic: "t", history: 100 });
        yield* publishAll(hub, range(0, 5));
        const sub = yield* hub.subscribe({ after: "2" });
        expect((yield* sub.nextBatch()).map((m) => m.value)).toEqual([2, 3, 4]);
        const waiting = yield* spawn(() => sub.nextBatch());
        yield* delay(1);
        yield* publishAll(hub, [5, 6]);
        expect((yield* waiting).map((m) => m.value)).toEqual([5, 6]);
      });
    });
  });

  it("shares a topic between hubs on the same broker", async () => {
    await run(function* () {
      const broker = createMemoryBroker();
      const a = yield* useHub<string>({ topic: "chat", broker });
      const b = yield* useHub<string>({ topic: "chat", broker });
      const other = yield* useHub<string>({ topic: "other", broker });
      const sub = yield* b.subscribe();
      yield* a.publish("hi");
      expect(yield* take(sub, 1)).toEqual(["hi"]);
      expect(other.stats().received).toBe(0);
      expect(b.stats().received).toBe(1);
      expect((yield* b.next("0")).value).toBe("hi");
    });
  });

  it("fails a subscription that outlives its hub with HubClosedError", async () => {
    let escaped: { next(): Operation<IteratorResult<Message<number>, never>> } | undefined;
    const hubScope = run(function* () {
      const hub = yield* useHub<number>({ topic: "t" });
      const sub = yield* hub.subscribe();
      escaped = sub;
    });
    await hubScope;
    await run(function* () {
      expect(yield* thrown(escaped?.next() as Operation<unknown>)).toBeInstanceOf(HubClosedError);
    });
  });

  it("rejects bad options", async () => {
    await run(function* () {
      expect(yield* thrown(useHub({ topic: "t", buffer: 0 }))).toBeInstanceOf(RangeError);
      expect(
        yield* thrown(useHub({ topic: "t", overflow: "maybe" as unknown as "block" })),
      ).toBeInstanceOf(RangeError);
      const hub = yield* useHub<number>({ topic: "t" });
      expect(yield* thrown(hub.subscribe({ buffer: -1 }))).toBeInstanceOf(RangeError);
    });
  });
});
