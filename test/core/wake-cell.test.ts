import { spawn, suspend } from "effection";
import { describe, expect, it } from "vitest";
import { delay } from "../../src/core/clock.js";
import { createWakeCell } from "../../src/core/wake-cell.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { runWithVirtualClock } from "../helpers/virtual-time.js";

checkLeaksAfterEach();

describe("createWakeCell", () => {
  it("wakes a waiter when signalled", async () => {
    const log: string[] = [];
    await runWithVirtualClock(function* () {
      const cell = createWakeCell();
      const waiter = yield* spawn(function* () {
        yield* cell.wait();
        log.push("woken");
      });
      yield* delay(0);
      expect(cell.waiting).toBe(1);
      log.push("signal");
      cell.signal();
      yield* waiter;
    });
    expect(log).toEqual(["signal", "woken"]);
  });

  it("keeps a signal nobody waited for, so the next wait returns without suspending", async () => {
    await runWithVirtualClock(function* () {
      const cell = createWakeCell();
      cell.signal();
      cell.signal(); // kept once, not counted
      expect(cell.signalled).toBe(true);
      yield* cell.wait();
      expect(cell.waits).toBe(0);
      expect(cell.signalled).toBe(false);
    });
  });

  it("lets next() ignore a kept signal and wait for a fresh one", async () => {
    await runWithVirtualClock(function* () {
      const cell = createWakeCell();
      cell.signal();
      const waiter = yield* spawn(() => cell.next());
      yield* delay(0);
      expect(cell.waiting).toBe(1);
      cell.signal();
      yield* waiter;
      expect(cell.waits).toBe(1);
    });
  });

  it("wakes every waiter on one signal", async () => {
    await runWithVirtualClock(function* () {
      const cell = createWakeCell();
      let woken = 0;
      const waiters = [];
      for (let i = 0; i < 3; i++) {
        waiters.push(
          yield* spawn(function* () {
            yield* cell.wait();
            woken++;
          }),
        );
      }
      yield* delay(0);
      cell.signal();
      for (const waiter of waiters) yield* waiter;
      expect(woken).toBe(3);
    });
  });

  it("with microtask timing, wakes waiters once for a burst of signals", async () => {
    await runWithVirtualClock(function* () {
      const cell = createWakeCell("microtask");
      const items: number[] = [];
      const taken: number[][] = [];
      const consumer = yield* spawn(function* () {
        while (taken.flat().length < 100) {
          while (items.length === 0) yield* cell.wait();
          taken.push(items.splice(0));
        }
      });
      yield* delay(0);
      for (let i = 0; i < 100; i++) {
        items.push(i);
        cell.signal();
      }
      yield* consumer;
      expect(taken).toHaveLength(1);
      expect(cell.waits).toBe(1);
    });
  });

  it("with turn timing, wakes waiters once for signals sent from separate callbacks of one turn", async () => {
    await runWithVirtualClock(function* () {
      const cell = createWakeCell("turn");
      const items: number[] = [];
      const taken: number[][] = [];
      const consumer = yield* spawn(function* () {
        while (taken.flat().length < 10) {
          while (items.length === 0) yield* cell.wait();
          taken.push(items.splice(0));
        }
      });
      yield* delay(0);
      // ten callbacks of one turn, as a socket's datagrams are (microtasks run between them,
      // so microtask timing would wake the consumer ten times)
      for (let i = 0; i < 10; i++) {
        setImmediate(() => {
          items.push(i);
          cell.signal();
        });
      }
      yield* consumer;
      expect(taken).toHaveLength(1);
      expect(cell.waits).toBe(1);
    });
  });

  it("forgets a waiter that was halted", async () => {
    await runWithVirtualClock(function* () {
      const cell = createWakeCell();
      const waiter = yield* spawn(() => cell.wait());
      yield* delay(0);
      yield* waiter.halt();
      expect(cell.waiting).toBe(0);
      cell.signal();
      expect(cell.signalled).toBe(true);
      const other = yield* spawn(function* () {
        yield* cell.wait();
        yield* suspend();
      });
      yield* other.halt();
    });
  });
});
