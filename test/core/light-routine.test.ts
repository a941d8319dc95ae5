import {
  action,
  all,
  call,
  createChannel,
  createContext,
  createSignal,
  type Effect,
  each,
  ensure,
  Ok,
  type Operation,
  type Result,
  race,
  resource,
  run,
  type Scope,
  scoped,
  sleep,
  spawn,
  suspend,
  until,
  useScope,
  withResolvers,
} from "effection";
import { describe, expect, it } from "vitest";
import { delay } from "../../src/core/clock.js";
import { TimeoutError } from "../../src/core/errors.js";
import { LightRoutine } from "../../src/core/light-routine.js";
import { type Selected, type Selector, useSelector } from "../../src/core/selector.js";
import { withTimeout } from "../../src/core/timeout.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import {
  advanceUntilSettled,
  runWithVirtualClock,
  startWithVirtualClock,
} from "../helpers/virtual-time.js";

checkLeaksAfterEach();

// The compatibility suite: real effection operations run as selector items,
// which continue as light routines once they suspend. Each checks the value,
// the failure and the halt, as an effection task would behave.
//
// Time is virtual (runWithVirtualClock, bough's delay), so no outcome depends on
// how fast the machine runs; effection's own sleep (a real timer) is run by the
// tests about it, which wait for events, never for a second timer.

/**
 * Selects at least once (an item may have settled inside `add()`), then until
 * the selector is empty; returns the values, or throws the first error.
 */
function* drain<T>(selector: Selector<T, string>): Operation<Selected<T, string>[]> {
  const out: Selected<T, string>[] = [];
  do out.push(...(yield* selector.select()));
  while (selector.size > 0);
  return out;
}

function* failure(selector: Selector<unknown, string>): Operation<unknown> {
  try {
    yield* drain(selector);
  } catch (error) {
    return error;
  }
  throw new Error("expected a failure");
}

/**
 * Runs `body` as one item, then halts it through its handle; returns the log.
 * Needs the virtual clock: its delay ends only once every task is idle, so
 * the item has reached its suspension (even one that hands off to a task).
 */
function* haltedItem(body: (log: string[]) => Operation<unknown>): Operation<string[]> {
  const log: string[] = [];
  const selector = yield* useSelector<unknown, string>();
  const item = selector.add("x", body(log));
  yield* delay(5);
  yield* item.halt();
  log.push(`size ${selector.size}`);
  return log;
}

const boom = () => new Error("boom");

describe("LightRoutine", () => {
  it("runs an operation and reports its outcome to done()", async () => {
    const outcomes: Result<number>[] = [];
    const settled = withResolvers<void>();
    class Recorded extends LightRoutine<number> {
      constructor(
        iterator: Iterator<Effect<unknown>, number, unknown>,
        protected parent: Scope,
      ) {
        super(iterator);
      }
      protected done(outcome: Result<number>) {
        outcomes.push(outcome);
        settled.resolve();
      }
    }
    await run(function* () {
      const iterator = (function* () {
        yield* sleep(1);
        return 7;
      })();
      const first = iterator.next();
      if (first.done) throw new Error("expected a suspension");
      const routine = new Recorded(iterator, yield* useScope());
      routine.start(first.value);
      yield* settled.operation;
      expect(routine.settled).toBe(true);
      yield* routine.halt(); // a no-op once settled
    });
    expect(outcomes).toEqual([{ ok: true, value: 7 }]);
  });

  it("runs sleep: value, failure, halt", async () => {
    // effection's sleep is a real timer: each step waits for the item, never for another timer
    await runWithVirtualClock(function* () {
      const selector = yield* useSelector<unknown, string>();
      selector.add(
        "v",
        (function* () {
          yield* sleep(2);
          return 1;
        })(),
      );
      expect(yield* drain(selector)).toEqual([{ data: "v", value: 1 }]);
      selector.add(
        "f",
        (function* () {
          yield* sleep(2);
          throw boom();
        })(),
      );
      expect(((yield* failure(selector)) as Error).message).toBe("boom");
      const log = yield* haltedItem(function* (log) {
        try {
          yield* sleep(10_000);
        } finally {
          log.push("finally");
        }
      });
      expect(log).toEqual(["finally", "size 0"]);
    });
  });

  it("runs until: value, rejection, halt", async () => {
    await runWithVirtualClock(function* () {
      const selector = yield* useSelector<unknown, string>();
      selector.add("v", until(Promise.resolve(2)));
      expect(yield* drain(selector)).toEqual([{ data: "v", value: 2 }]);
      selector.add("f", until(Promise.reject(boom())));
      expect(((yield* failure(selector)) as Error).message).toBe("boom");
      const log = yield* haltedItem(function* (log) {
        try {
          yield* until(new Promise(() => {}));
        } finally {
          log.push("finally");
        }
      });
      expect(log).toEqual(["finally", "size 0"]);
    });
  });

  it("runs call(async fn): value, rejection, halt", async () => {
    await runWithVirtualClock(function* () {
      const selector = yield* useSelector<unknown, string>();
      selector.add(
        "v",
        call(async () => 3),
      );
      expect(yield* drain(selector)).toEqual([{ data: "v", value: 3 }]);
      selector.add(
        "f",
        call(async () => {
          throw boom();
        }),
      );
      expect(((yield* failure(selector)) as Error).message).toBe("boom");
      const log = yield* haltedItem(function* (log) {
        try {
          yield* call(() => new Promise(() => {}));
        } finally {
          log.push("finally");
        }
      });
      expect(log).toEqual(["finally", "size 0"]);
    });
  });

  it("runs action: resolve, reject, and its teardown on halt", async () => {
    await runWithVirtualClock(function* () {
      const selector = yield* useSelector<unknown, string>();
      selector.add(
        "v",
        action<number>((resolve) => {
          const timer = setTimeout(() => resolve(4), 1);
          return () => clearTimeout(timer);
        }),
      );
      expect(yield* drain(selector)).toEqual([{ data: "v", value: 4 }]);
      selector.add(
        "f",
        action<number>((_, reject) => {
          const timer = setTimeout(() => reject(boom()), 1);
          return () => clearTimeout(timer);
        }),
      );
      expect(((yield* failure(selector)) as Error).message).toBe("boom");
      const log = yield* haltedItem((log) =>
        action(() => () => {
          log.push("teardown");
        }),
      );
      expect(log).toEqual(["teardown", "size 0"]);
    });
  });

  it("runs spawn + join: value, a child's failure, and halts the child with the item", async () => {
    await runWithVirtualClock(function* () {
      const selector = yield* useSelector<unknown, string>();
      selector.add(
        "v",
        (function* () {
          const task = yield* spawn(function* () {
            yield* delay(2);
            return 5;
          });
          return (yield* task) + 1;
        })(),
      );
      expect(yield* drain(selector)).toEqual([{ data: "v", value: 6 }]);
      // A child that fails unawaited fails its item (effection's error boundary), not the owner.
      selector.add(
        "f",
        (function* () {
          yield* spawn(function* () {
            yield* delay(2);
            throw boom();
          });
          yield* suspend();
        })(),
      );
      expect(((yield* failure(selector)) as Error).message).toBe("boom");
      const log = yield* haltedItem(function* (log) {
        const task = yield* spawn(function* () {
          try {
            yield* suspend();
          } finally {
            log.push("child finally");
          }
        });
        try {
          yield* task;
        } finally {
          log.push("item finally");
        }
      });
      expect(log).toEqual(["item finally", "child finally", "size 0"]);
    });
  });

  it("halts a spawned child that is never joined when its item finishes", async () => {
    await runWithVirtualClock(function* () {
      const log: string[] = [];
      const selector = yield* useSelector<unknown, string>();
      selector.add(
        "v",
        (function* () {
          yield* spawn(function* () {
            try {
              yield* suspend();
            } finally {
              yield* delay(2); // an async cleanup, waited for before the item reports
              log.push("orphan halted");
            }
          });
          yield* delay(1);
          log.push("item returns");
          return "done";
        })(),
      );
      expect(yield* drain(selector)).toEqual([{ data: "v", value: "done" }]);
      expect(log).toEqual(["item returns", "orphan halted"]);
    });
  });

  it("runs all: values, a member's failure, halt", async () => {
    await runWithVirtualClock(function* () {
      const selector = yield* useSelector<unknown, string>();
      selector.add("v", all([until(Promise.resolve(1)), delay(2), call(async () => 3)]));
      expect(yield* drain(selector)).toEqual([{ data: "v", value: [1, undefined, 3] }]);
      selector.add("f", all([delay(50), until(Promise.reject(boom()))]));
      expect(((yield* failure(selector)) as Error).message).toBe("boom");
      const log = yield* haltedItem(function* (log) {
        yield* all([
          (function* () {
            try {
              yield* suspend();
            } finally {
              log.push("member finally");
            }
          })(),
          suspend(),
        ]);
      });
      expect(log).toEqual(["member finally", "size 0"]);
    });
  });

  it("runs race: the winner, a failure, halt", async () => {
    await runWithVirtualClock(function* () {
      const selector = yield* useSelector<unknown, string>();
      selector.add(
        "v",
        race([
          (function* () {
            yield* delay(30);
            return "slow";
          })(),
          (function* () {
            yield* delay(1);
            return "fast";
          })(),
        ]),
      );
      expect(yield* drain(selector)).toEqual([{ data: "v", value: "fast" }]);
      selector.add("f", race([delay(50), until(Promise.reject(boom()))]));
      expect(((yield* failure(selector)) as Error).message).toBe("boom");
      const log = yield* haltedItem(function* (log) {
        yield* race([
          (function* () {
            try {
              yield* suspend();
            } finally {
              log.push("racer finally");
            }
          })(),
          suspend(),
        ]);
      });
      expect(log).toEqual(["racer finally", "size 0"]);
    });
  });

  it("runs scoped: value, failure, halt, and halts what the scope spawned", async () => {
    await runWithVirtualClock(function* () {
      const log: string[] = [];
      const selector = yield* useSelector<unknown, string>();
      selector.add(
        "v",
        scoped(function* () {
          yield* spawn(function* () {
            try {
              yield* suspend();
            } finally {
              log.push("scoped child halted");
            }
          });
          yield* delay(1);
          return 8;
        }),
      );
      expect(yield* drain(selector)).toEqual([{ data: "v", value: 8 }]);
      expect(log).toEqual(["scoped child halted"]);
      selector.add(
        "f",
        scoped(function* () {
          yield* delay(1);
          throw boom();
        }),
      );
      expect(((yield* failure(selector)) as Error).message).toBe("boom");
      const halted = yield* haltedItem((log) =>
        scoped(function* () {
          try {
            yield* suspend();
          } finally {
            log.push("scoped finally");
          }
        }),
      );
      expect(halted).toEqual(["scoped finally", "size 0"]);
    });
  });

  it("gets and sets contexts: inherited from the owner, set locally to the item", async () => {
    const Name = createContext<string>("bough.test.name", "default");
    await runWithVirtualClock(function* () {
      yield* Name.set("owner");
      const selector = yield* useSelector<unknown, string>();
      selector.add(
        "v",
        (function* () {
          yield* delay(1);
          const inherited = yield* Name.expect();
          yield* Name.set("item");
          yield* delay(1);
          return [inherited, yield* Name.expect()];
        })(),
      );
      expect(yield* drain(selector)).toEqual([{ data: "v", value: ["owner", "item"] }]);
      expect(yield* Name.expect()).toBe("owner");
      const Missing = createContext<string>("bough.test.missing");
      selector.add(
        "f",
        (function* () {
          yield* delay(1);
          return yield* Missing.expect();
        })(),
      );
      expect(((yield* failure(selector)) as Error).name).toBe("MissingContextError");
      const log = yield* haltedItem(function* (log) {
        yield* Name.set("halted item");
        try {
          yield* suspend();
        } finally {
          log.push(yield* Name.expect());
        }
      });
      expect(log).toEqual(["halted item", "size 0"]);
    });
  });

  it("runs resource: value, init failure, and its cleanup when the item ends or halts", async () => {
    await runWithVirtualClock(function* () {
      const log: string[] = [];
      const useThing = (name: string) =>
        resource<string>(function* (provide) {
          try {
            yield* delay(1);
            yield* provide(name);
          } finally {
            log.push(`${name} released`);
          }
        });
      const selector = yield* useSelector<unknown, string>();
      selector.add(
        "v",
        (function* () {
          const thing = yield* useThing("a");
          yield* delay(1);
          log.push(`using ${thing}`);
          return thing;
        })(),
      );
      expect(yield* drain(selector)).toEqual([{ data: "v", value: "a" }]);
      expect(log).toEqual(["using a", "a released"]);
      selector.add(
        "f",
        resource(function* () {
          yield* delay(1);
          throw boom();
        }),
      );
      expect(((yield* failure(selector)) as Error).message).toBe("boom");
      log.length = 0;
      const halted = yield* haltedItem(function* () {
        yield* useThing("b");
        yield* suspend();
      });
      expect([...log, ...halted]).toEqual(["b released", "size 0"]);
    });
  });

  it("runs ensure: the cleanup runs when the item returns, fails or halts", async () => {
    await runWithVirtualClock(function* () {
      const log: string[] = [];
      const selector = yield* useSelector<unknown, string>();
      selector.add(
        "v",
        (function* () {
          yield* ensure(() => {
            log.push("ensured v");
          });
          yield* delay(1);
          return 9;
        })(),
      );
      expect(yield* drain(selector)).toEqual([{ data: "v", value: 9 }]);
      selector.add(
        "f",
        (function* () {
          yield* ensure(function* () {
            yield* delay(1);
            log.push("ensured f");
          });
          yield* delay(1);
          throw boom();
        })(),
      );
      expect(((yield* failure(selector)) as Error).message).toBe("boom");
      const halted = yield* haltedItem(function* (log) {
        yield* ensure(() => {
          log.push("ensured h");
        });
        yield* suspend();
      });
      expect(log).toEqual(["ensured v", "ensured f"]);
      expect(halted).toEqual(["ensured h", "size 0"]);
    });
  });

  it("runs useScope: tasks run in the item's scope end with the item", async () => {
    await runWithVirtualClock(function* () {
      const log: string[] = [];
      const owner = yield* useScope();
      const selector = yield* useSelector<unknown, string>();
      selector.add(
        "v",
        (function* () {
          yield* delay(1);
          const scope = yield* useScope();
          expect(scope).not.toBe(owner);
          scope.run(function* () {
            try {
              yield* suspend();
            } finally {
              log.push("scope task halted");
            }
          });
          const value = yield* scope.run(function* () {
            yield* delay(1);
            return 10;
          });
          return value;
        })(),
      );
      expect(yield* drain(selector)).toEqual([{ data: "v", value: 10 }]);
      expect(log).toEqual(["scope task halted"]);
      selector.add(
        "f",
        (function* () {
          const scope = yield* useScope();
          yield* scope.run(function* () {
            yield* delay(1);
            throw boom();
          });
        })(),
      );
      expect(((yield* failure(selector)) as Error).message).toBe("boom");
      const halted = yield* haltedItem(function* (log) {
        const scope = yield* useScope();
        scope.run(function* () {
          try {
            yield* suspend();
          } finally {
            log.push("scope task halted");
          }
        });
        yield* suspend();
      });
      expect(halted).toEqual(["scope task halted", "size 0"]);
    });
  });

  it("runs each over a channel and a signal: values, a failure in the loop, halt", async () => {
    await runWithVirtualClock(function* () {
      const channel = createChannel<number, void>();
      const signal = createSignal<number, void>();
      const selector = yield* useSelector<unknown, string>();
      const sum = (stream: typeof channel | typeof signal, failAt?: number) =>
        (function* () {
          let total = 0;
          for (const n of yield* each(stream)) {
            if (n === failAt) throw boom();
            total += n;
            yield* each.next();
          }
          return total;
        })();
      selector.add("channel", sum(channel));
      selector.add("signal", sum(signal));
      yield* delay(1);
      for (let n = 1; n <= 3; n++) {
        yield* channel.send(n);
        signal.send(n * 10);
      }
      yield* channel.close();
      signal.close();
      expect(yield* drain(selector)).toEqual([
        { data: "channel", value: 6 },
        { data: "signal", value: 60 },
      ]);
      const failing = createSignal<number, void>();
      selector.add("f", sum(failing, 2));
      yield* delay(1);
      failing.send(1);
      failing.send(2);
      expect(((yield* failure(selector)) as Error).message).toBe("boom");
      const halted = yield* haltedItem(function* (log) {
        try {
          for (const _ of yield* each(createSignal<number, void>())) yield* each.next();
        } finally {
          log.push("loop finally");
        }
      });
      expect(halted).toEqual(["loop finally", "size 0"]);
    });
  });

  it("reports an item that throws after suspending, and one whose effect throws on entry", async () => {
    await runWithVirtualClock(function* () {
      const selector = yield* useSelector<unknown, string>();
      selector.add(
        "f",
        (function* () {
          yield* delay(1);
          throw new TypeError("late");
        })(),
      );
      expect(yield* failure(selector)).toBeInstanceOf(TypeError);
      selector.add(
        "enter",
        action(() => {
          throw new RangeError("enter");
        }),
      );
      expect(yield* failure(selector)).toBeInstanceOf(RangeError);
    });
  });

  it("fails the item when a child or a resource fails synchronously while the item steps outside effection's reducer", async () => {
    // After until(), the item steps from a promise callback, so effection runs the new task at
    // once, inside the item's step; its failure must still reach the item, and only the item.
    await runWithVirtualClock(function* () {
      const selector = yield* useSelector<unknown, string>();
      selector.add(
        "spawn",
        (function* () {
          yield* until(Promise.resolve());
          yield* spawn(function* () {
            throw new Error("child failed at once");
          });
          yield* suspend();
        })(),
      );
      expect(((yield* failure(selector)) as Error).message).toBe("child failed at once");
      selector.add(
        "resource",
        (function* () {
          yield* until(Promise.resolve());
          return yield* resource(function* () {
            throw new Error("init failed at once");
          });
        })(),
      );
      expect(((yield* failure(selector)) as Error).message).toBe("init failed at once");
      selector.add(
        "caught",
        (function* () {
          yield* until(Promise.resolve());
          try {
            yield* resource(function* () {
              throw new Error("init failed");
            });
          } catch {
            yield* delay(1);
            return "recovered";
          }
        })(),
      );
      expect(yield* drain(selector)).toEqual([{ data: "caught", value: "recovered" }]);
    });
  });

  it("hands an item to a real task when an effect reads routine.future, keeping value, failure and halt", async () => {
    // No effection 4.1 effect reads `routine.future`; this one does, so the light path cannot serve it.
    const readsFuture: Operation<string> = {
      *[Symbol.iterator]() {
        return (yield {
          description: "reads routine.future",
          enter(resolve, routine) {
            const future = routine.future;
            resolve(Ok(typeof future.then));
            return (exited) => exited(Ok());
          },
        }) as string;
      },
    };
    const Name = createContext<string>("bough.test.handoff");
    await runWithVirtualClock(function* () {
      const selector = yield* useSelector<unknown, string>();
      selector.add(
        "v",
        (function* () {
          yield* delay(1);
          yield* Name.set("set before the hand-off");
          const kind = yield* readsFuture;
          yield* delay(1);
          return [kind, yield* Name.expect()];
        })(),
      );
      expect(yield* drain(selector)).toEqual([
        { data: "v", value: ["function", "set before the hand-off"] },
      ]);
      selector.add(
        "f",
        (function* () {
          yield* until(Promise.resolve());
          yield* readsFuture;
          yield* delay(1);
          throw boom();
        })(),
      );
      expect(((yield* failure(selector)) as Error).message).toBe("boom");
      const halted = yield* haltedItem(function* (log) {
        yield* readsFuture;
        try {
          yield* suspend();
        } finally {
          yield* delay(1);
          log.push("finally in the task");
        }
      });
      expect(halted).toEqual(["finally in the task", "size 0"]);
    });
  });

  it("waits for a finally block that suspends when the owner halts", async () => {
    const log: string[] = [];
    let itemsAdded!: () => void;
    const added = new Promise<void>((resolve) => {
      itemsAdded = resolve;
    });
    const { clock, task, dispose } = startWithVirtualClock(function* () {
      const selector = yield* useSelector<unknown, string>();
      for (const name of ["a", "b"]) {
        selector.add(
          name,
          (function* () {
            try {
              yield* suspend(); // only the halt ends it
            } finally {
              yield* sleep(5); // effection's real sleep: the halt waits for it, whatever it takes
              log.push(`${name} cleaned`);
            }
          })(),
        );
      }
      itemsAdded();
      yield* suspend();
    });
    await added;
    await clock.flush(); // the items' tasks (light routines off) take their first turn
    await advanceUntilSettled(clock, task.halt());
    await dispose();
    expect(log.sort()).toEqual(["a cleaned", "b cleaned"]);
  });

  it("fails the owner's halt with an error thrown by an item's cleanup", async () => {
    let itemsAdded!: () => void;
    const added = new Promise<void>((resolve) => {
      itemsAdded = resolve;
    });
    const { clock, task, dispose } = startWithVirtualClock(function* () {
      const selector = yield* useSelector<unknown, string>();
      selector.add(
        "a",
        (function* () {
          try {
            yield* suspend();
          } finally {
            yield* delay(1);
            // biome-ignore lint/correctness/noUnsafeFinally: the cleanup failure under test
            throw new Error("cleanup failed");
          }
        })(),
      );
      itemsAdded();
      yield* suspend();
    });
    await added;
    await clock.flush(); // the items' tasks (light routines off) take their first turn
    await expect(advanceUntilSettled(clock, task.halt())).rejects.toThrow("cleanup failed");
    await dispose();
  });

  it("halts one item through its handle, leaving the others running", async () => {
    await runWithVirtualClock(function* () {
      const log: string[] = [];
      const selector = yield* useSelector<unknown, string>();
      const doomed = selector.add(
        "doomed",
        (function* () {
          try {
            yield* delay(10_000);
          } finally {
            yield* delay(1);
            log.push("doomed cleaned");
          }
        })(),
      );
      // the kept item waits for the test, not for a time a busy machine could overrun
      const keep = withResolvers<void>();
      selector.add(
        "kept",
        (function* () {
          yield* keep.operation;
          return "kept";
        })(),
      );
      yield* doomed.halt();
      expect(log).toEqual(["doomed cleaned"]);
      expect(selector.size).toBe(1);
      keep.resolve();
      expect(yield* drain(selector)).toEqual([{ data: "kept", value: "kept" }]);
      yield* doomed.halt(); // halting again is a no-op
      const failed = selector.add(
        "failed",
        (function* () {
          yield* until(Promise.resolve());
          throw boom();
        })(),
      );
      yield* delay(5); // the virtual clock moves only once the item's failure (microtasks) is in
      yield* failed.halt(); // a no-op for an item that already failed: select reports it
      expect(((yield* failure(selector)) as Error).message).toBe("boom");
    });
  });

  it("unwinds an item halted before its first suspension resolved", async () => {
    await runWithVirtualClock(function* () {
      const log: string[] = [];
      const { operation, resolve } = withResolvers<void>();
      const selector = yield* useSelector<unknown, string>();
      const item = selector.add(
        "early",
        (function* () {
          log.push("first step");
          try {
            yield* operation;
            log.push("resumed");
          } finally {
            log.push("finally");
          }
        })(),
      );
      expect(log).toEqual(["first step"]);
      yield* item.halt();
      resolve();
      yield* delay(1);
      expect(log).toEqual(["first step", "finally"]);
      expect(selector.size).toBe(0);
    });
  });

  it("runs bough's own withTimeout and delay as items, on the virtual clock", async () => {
    const { first, error } = await runWithVirtualClock(function* () {
      const selector = yield* useSelector<unknown, string>();
      selector.add("timed out", withTimeout(10, delay(100)));
      selector.add(
        "in time",
        withTimeout(
          100,
          (function* () {
            yield* delay(5);
            return "ok";
          })(),
        ),
      );
      const first = yield* selector.select();
      let error: unknown;
      try {
        yield* selector.select();
      } catch (e) {
        error = e;
      }
      return { first, error };
    });
    expect(first).toEqual([{ data: "in time", value: "ok" }]);
    expect(error).toBeInstanceOf(TimeoutError);
  });

  it("accepts items added by an item after it suspended", async () => {
    await runWithVirtualClock(function* () {
      const selector = yield* useSelector<number, string>();
      selector.add(
        "parent",
        (function* () {
          yield* until(Promise.resolve());
          for (let i = 0; i < 100; i++) {
            selector.add(
              `child ${i}`,
              (function* () {
                yield* until(Promise.resolve());
                return i;
              })(),
            );
          }
          return -1;
        })(),
      );
      const got = yield* drain(selector);
      expect(got).toHaveLength(101);
      expect(got.reduce((sum, { value }) => sum + value, 0)).toBe(4950 - 1);
    });
  });

  it("runs many suspending items and halts the unfinished ones with the owner", async () => {
    let cleaned = 0;
    await runWithVirtualClock(function* () {
      const selector = yield* useSelector<number, number>();
      for (let i = 0; i < 1000; i++) {
        selector.add(
          i,
          (function* () {
            try {
              if (i % 2) yield* suspend();
              yield* until(Promise.resolve());
              return i;
            } finally {
              cleaned++;
            }
          })(),
        );
      }
      let got = 0;
      while (got < 500) got += (yield* selector.select()).length;
      expect(selector.size).toBe(500);
    });
    expect(cleaned).toBe(1000);
  });
});
