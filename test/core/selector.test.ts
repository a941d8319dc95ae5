import {
  call,
  createContext,
  createScope,
  type Operation,
  resource,
  scoped,
  spawn,
  suspend,
  until,
  useScope,
  withResolvers,
} from "effection";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

/** An operation that returns `value` without suspending. */
function* constant<T>(value: T): Operation<T> {
  return value;
}

import { readContext } from "../../src/core/light-routine.js";
import {
  ClockContext,
  delay,
  SelectorClosedError,
  SelectorEmptyError,
  useSelector,
} from "../../src/index.js";
import { createVirtualClock } from "../../src/testing/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import { thrown } from "../helpers/thrown.js";
import { advanceUntilSettled, runWithVirtualClock } from "../helpers/virtual-time.js";

checkLeaksAfterEach();

function* valueAfter<T>(ms: number, value: T): Operation<T> {
  yield* delay(ms);
  return value;
}

function* failAfter(ms: number, message: string): Operation<never> {
  yield* delay(ms);
  throw new Error(message);
}

describe("useSelector", () => {
  it("starts an added item at once", async () => {
    let started = false;
    await runWithVirtualClock(function* () {
      const selector = yield* useSelector();
      selector.add(
        "a",
        (function* () {
          started = true;
          yield* suspend();
        })(),
      );
      expect(started).toBe(true);
      expect(selector.size).toBe(1);
    });
  });

  it("returns every item finished since the last select, in completion order, with its data", async () => {
    await runWithVirtualClock(function* () {
      const selector = yield* useSelector<string, number>();
      selector.add(3, valueAfter(30, "c"));
      selector.add(1, valueAfter(10, "a"));
      selector.add(2, valueAfter(20, "b"));
      yield* delay(50);
      const got = yield* selector.select();
      expect(got).toEqual([
        { data: 1, value: "a" },
        { data: 2, value: "b" },
        { data: 3, value: "c" },
      ]);
      expect(selector.size).toBe(0);
    });
  });

  it("waits in select until the first item finishes", async () => {
    await runWithVirtualClock(function* () {
      const selector = yield* useSelector<string, string>();
      selector.add("slow", valueAfter(40, "slow"));
      selector.add("fast", valueAfter(5, "fast"));
      const first = yield* selector.select();
      expect(first).toEqual([{ data: "fast", value: "fast" }]);
      const second = yield* selector.select();
      expect(second).toEqual([{ data: "slow", value: "slow" }]);
    });
  });

  it("delivers items that finish without suspending, at no task cost, in order", async () => {
    await runWithVirtualClock(function* () {
      const selector = yield* useSelector<number, number>();
      for (let i = 0; i < 5; i++) {
        selector.add(
          i,
          (function* () {
            return i * i;
          })(),
        );
      }
      expect(selector.size).toBe(0);
      expect((yield* selector.select()).map((s) => s.value)).toEqual([0, 1, 4, 9, 16]);
    });
  });

  it("throws a failure from select before any values, and keeps the values for the next call", async () => {
    await runWithVirtualClock(function* () {
      const selector = yield* useSelector<string, string>();
      selector.add("ok1", valueAfter(5, "v1"));
      selector.add("bad", failAfter(10, "boom"));
      selector.add("ok2", valueAfter(15, "v2"));
      yield* delay(30);
      const error = yield* thrown(selector.select());
      expect((error as Error).message).toBe("boom");
      expect(yield* selector.select()).toEqual([
        { data: "ok1", value: "v1" },
        { data: "ok2", value: "v2" },
      ]);
    });
  });

  it("keeps a failure nobody awaited until the next select, without crashing the owner", async () => {
    // effection's sharp edge: a spawned task that fails while nobody awaits it tears down its
    // parent at once. A selector item's failure waits, undiminished, for the owner's next select.
    await runWithVirtualClock(function* () {
      const selector = yield* useSelector();
      selector.add("bad", failAfter(1, "late failure"));
      yield* delay(20);
      expect(selector.size).toBe(0);
      const error = yield* thrown(selector.select());
      expect((error as Error).message).toBe("late failure");
    });
  });

  it("reports an item that throws synchronously as a failure", async () => {
    await runWithVirtualClock(function* () {
      const selector = yield* useSelector();
      selector.add(
        "bad",
        (function* () {
          throw new TypeError("bad input");
        })(),
      );
      const error = yield* thrown(selector.select());
      expect(error).toBeInstanceOf(TypeError);
    });
  });

  it("drops a halted item silently", async () => {
    await runWithVirtualClock(function* () {
      const selector = yield* useSelector<string, string>();
      let cleaned = false;
      const doomed = selector.add(
        "doomed",
        (function* () {
          try {
            yield* suspend();
            return "never";
          } finally {
            cleaned = true;
          }
        })(),
      );
      selector.add("ok", valueAfter(10, "ok"));
      yield* doomed.halt();
      expect(cleaned).toBe(true);
      expect(yield* selector.select()).toEqual([{ data: "ok", value: "ok" }]);
      expect(selector.size).toBe(0);
      const error = yield* thrown(selector.select());
      expect(error).toBeInstanceOf(SelectorEmptyError);
    });
  });

  it("throws SelectorEmptyError from select on an empty selector", async () => {
    await runWithVirtualClock(function* () {
      const selector = yield* useSelector();
      const error = yield* thrown(selector.select());
      expect(error).toBeInstanceOf(SelectorEmptyError);
      expect((error as SelectorEmptyError).code).toBe("BOUGH_CORE_SELECTOR_EMPTY");
    });
  });

  describe("addGenerator", () => {
    it("refills lazily at the next select, at most once per select", async () => {
      await runWithVirtualClock(function* () {
        const selector = yield* useSelector<number, string>();
        let calls = 0;
        selector.addGenerator("gen", () => {
          const n = ++calls;
          return (function* () {
            return n;
          })();
        });
        expect(calls).toBe(1);
        yield* delay(5);
        expect(calls).toBe(1); // finished items are not refilled until select()
        expect(yield* selector.select()).toEqual([
          { data: "gen", value: 1 },
          { data: "gen", value: 2 },
        ]);
        expect(calls).toBe(2);
        expect(yield* selector.select()).toEqual([{ data: "gen", value: 3 }]);
        expect(calls).toBe(3);
      });
    });

    it("ends when gen() returns undefined", async () => {
      await runWithVirtualClock(function* () {
        const selector = yield* useSelector<number, string>();
        let n = 0;
        selector.addGenerator("gen", () => (n < 3 ? valueAfter(1, ++n) : undefined));
        const values: number[] = [];
        for (;;) {
          try {
            for (const s of yield* selector.select()) values.push(s.value);
          } catch (error) {
            expect(error).toBeInstanceOf(SelectorEmptyError);
            break;
          }
        }
        expect(values).toEqual([1, 2, 3]);
      });
    });
  });

  it("run() never returns normally: it throws the first failure", async () => {
    await runWithVirtualClock(function* () {
      const selector = yield* useSelector();
      selector.add("ok", valueAfter(1, "ok"));
      selector.add("bad", failAfter(10, "crash"));
      const error = yield* thrown(selector.run());
      expect((error as Error).message).toBe("crash");
    });
  });

  it("run() throws SelectorEmptyError once everything finished", async () => {
    await runWithVirtualClock(function* () {
      const selector = yield* useSelector();
      selector.add("ok", valueAfter(1, "ok"));
      const error = yield* thrown(selector.run());
      expect(error).toBeInstanceOf(SelectorEmptyError);
    });
  });

  describe("runUntil", () => {
    it("returns the operation's value while the other items keep running", async () => {
      await runWithVirtualClock(function* () {
        const selector = yield* useSelector<string, string>();
        selector.add("long", valueAfter(50, "long"));
        const value = yield* selector.runUntil(valueAfter(10, 42));
        expect(value).toBe(42);
        expect(selector.size).toBe(1);
        expect(yield* selector.select()).toEqual([{ data: "long", value: "long" }]);
      });
    });

    it("lets the operation win while a generator's items finish at once (Future::Selector's run_until_ready)", async () => {
      await runWithVirtualClock(function* () {
        const selector = yield* useSelector<number, string>();
        const ready = withResolvers<string>();
        let calls = 0;
        selector.addGenerator("gen", () => {
          calls++;
          if (calls === 6) ready.resolve("Ready");
          return constant(calls);
        });
        expect(yield* selector.runUntil(ready.operation)).toBe("Ready");
        expect(calls).toBe(6);
      });
    });

    it("lets a promise-backed operation win while items finish at once forever", async () => {
      await runWithVirtualClock(function* () {
        const selector = yield* useSelector<number, string>();
        let calls = 0;
        selector.addGenerator("gen", () => constant(++calls));
        const later = new Promise<string>((resolve) => setTimeout(() => resolve("Ready"), 5));
        expect(yield* selector.runUntil(until(later))).toBe("Ready");
        expect(calls).toBeGreaterThan(1);
      });
    });

    it("waits for the operation even when the selector is empty", async () => {
      await runWithVirtualClock(function* () {
        const selector = yield* useSelector();
        expect(yield* selector.runUntil(valueAfter(5, "done"))).toBe("done");
      });
    });

    it("rethrows the operation's error", async () => {
      await runWithVirtualClock(function* () {
        const selector = yield* useSelector();
        selector.add("long", valueAfter(50, "long"));
        const error = yield* thrown(selector.runUntil(failAfter(5, "op failed")));
        expect((error as Error).message).toBe("op failed");
        expect(selector.size).toBe(1);
      });
    });

    it("throws an item's error if that comes first", async () => {
      await runWithVirtualClock(function* () {
        const selector = yield* useSelector();
        selector.add("bad", failAfter(5, "item failed"));
        const error = yield* thrown(selector.runUntil(valueAfter(1000, "late")));
        expect((error as Error).message).toBe("item failed");
      });
    });

    it("sees items added while it runs", async () => {
      await runWithVirtualClock(function* () {
        const selector = yield* useSelector();
        const gate = withResolvers<void>();
        const error = yield* thrown(
          selector.runUntil(
            (function* () {
              selector.add("late-bad", failAfter(5, "late item failed"));
              yield* gate.operation;
            })(),
          ),
        );
        expect((error as Error).message).toBe("late item failed");
      });
    });
  });

  it("halts every item when the owner halts, and waits for their finally blocks", async () => {
    const events: string[] = [];
    const clock = createVirtualClock();
    const scope = createScope();
    const task = scope.run(function* () {
      yield* ClockContext.set(clock);
      const selector = yield* useSelector();
      for (const name of ["a", "b"]) {
        selector.add(
          name,
          (function* () {
            try {
              yield* suspend();
            } finally {
              // async cleanup inside finally: bough waits for it
              yield* delay(20);
              events.push(`${name} cleaned`);
            }
          })(),
        );
      }
      events.push("owner ready");
      yield* suspend();
    });
    await clock.flush();
    expect(events).toEqual(["owner ready"]);
    await advanceUntilSettled(clock, task.halt());
    expect(events.sort()).toEqual(["a cleaned", "b cleaned", "owner ready"]);
    await scope[Symbol.asyncDispose]();
  });

  it("unwinds items whose owner ends before their tasks took a step", async () => {
    const events: string[] = [];
    await runWithVirtualClock(function* () {
      yield* scoped(function* () {
        const selector = yield* useSelector();
        selector.add(
          "early",
          (function* () {
            try {
              events.push("started");
              yield* suspend();
            } finally {
              yield* delay(1);
              events.push("cleaned");
            }
          })(),
        );
        // the owner returns at once: the item's task has not taken a step yet
      });
      events.push("owner gone");
    });
    expect(events).toEqual(["started", "cleaned", "owner gone"]);
  });

  it("accepts an item added from inside another item's body", async () => {
    await runWithVirtualClock(function* () {
      const selector = yield* useSelector<string, string>();
      selector.add(
        "parent",
        (function* () {
          yield* delay(1);
          selector.add("child", valueAfter(5, "from child"));
          return "from parent";
        })(),
      );
      const values: string[] = [];
      while (values.length < 2) for (const s of yield* selector.select()) values.push(s.value);
      expect(values).toEqual(["from parent", "from child"]);
    });
  });

  it("runs items that spawn, use resources and call promises", async () => {
    await runWithVirtualClock(function* () {
      const selector = yield* useSelector<number, string>();
      selector.add(
        "spawner",
        (function* () {
          const child = yield* spawn(() => valueAfter(2, 20));
          const fromPromise = yield* call(() => Promise.resolve(1));
          return (yield* child) + fromPromise;
        })(),
      );
      expect(yield* selector.select()).toEqual([{ data: "spawner", value: 21 }]);
    });
  });

  it("closes as its caller's spawned children and resources do: newest first, when the caller's body ends", async () => {
    const order = (events: string[]) =>
      function* (): Operation<void> {
        yield* resource<void>(function* (provide) {
          try {
            yield* provide();
          } finally {
            events.push("older resource released");
          }
        });
        const selector = yield* useSelector();
        selector.add(
          "item",
          (function* () {
            try {
              yield* suspend();
            } finally {
              yield* delay(1);
              events.push("item cleaned");
            }
          })(),
        );
        const started = withResolvers<void>();
        yield* spawn(function* () {
          try {
            started.resolve();
            yield* suspend();
          } finally {
            events.push("newer task halted");
          }
        });
        yield* started.operation;
        events.push("body ends");
      };
    const expected = ["body ends", "newer task halted", "item cleaned", "older resource released"];
    const inTask: string[] = [];
    await runWithVirtualClock(order(inTask));
    expect(inTask).toEqual(expected);
    const inScoped: string[] = [];
    await runWithVirtualClock(() => scoped(order(inScoped)));
    expect(inScoped).toEqual(expected);
    const inItem: string[] = [];
    await runWithVirtualClock(function* () {
      const outer = yield* useSelector();
      outer.add("nested", order(inItem)());
      yield* outer.select();
    });
    expect(inItem).toEqual(expected);
  });

  it("halts its items as a scope halts its tasks: newest first, each after the one before has cleaned up, and an item's own tasks after its cleanup", async () => {
    // Each item (or task) waits, one marked `spawns` with a task of its own
    // (so it has a scope of its own); when its owner ends, its cleanup takes
    // `cleanup` ms (0: it does not suspend), and one marked `breaks` throws
    // from its cleanup. The trace through spawned tasks is the reference.
    // scoped() destroys the scopes made in it without halting whoever made
    // them: an item's own scope, newer than the selector, went first (its task
    // halted before its cleanup, and before older items).
    type Item = { spawns: boolean; cleanup: number; breaks: boolean };
    const program = (items: Item[], as: "task" | "item") =>
      function* (): Operation<string[]> {
        const trace: string[] = [];
        try {
          yield* scoped(function* () {
            const selector = as === "item" ? yield* useSelector() : undefined;
            for (const [i, { spawns, cleanup, breaks }] of items.entries()) {
              const op = (function* () {
                try {
                  if (spawns) {
                    yield* spawn(function* () {
                      try {
                        yield* suspend();
                      } finally {
                        trace.push(`#${i}'s task halted`);
                      }
                    });
                  }
                  yield* suspend();
                } finally {
                  trace.push(`#${i} cleanup`);
                  if (cleanup > 0) yield* delay(cleanup);
                  trace.push(`#${i} cleaned`);
                  // biome-ignore lint/correctness/noUnsafeFinally: a cleanup that fails is the point
                  if (breaks) throw new Error(`#${i} broke`);
                }
              })();
              if (selector) selector.add(i, op);
              else yield* spawn(() => op);
            }
            yield* delay(1);
            trace.push("owner ends");
          });
        } catch (error) {
          trace.push(`owner throws ${(error as Error).message}`);
        }
        return trace;
      };
    const items = fc.array(
      fc.record({
        spawns: fc.boolean(),
        cleanup: fc.integer({ min: 0, max: 3 }),
        breaks: fc.boolean(),
      }),
      { minLength: 1, maxLength: 5 },
    );
    await fc.assert(
      fc.asyncProperty(items, async (items) => {
        const expected = await runWithVirtualClock(program(items, "task"));
        expect(await runWithVirtualClock(program(items, "item"))).toEqual(expected);
      }),
      { numRuns: 60 },
    );
  });

  it("gives an item that makes a selector no scope of its own, with the same trace as when it has one", async () => {
    // A tree of items, each making a selector with items under it. An item
    // that makes a selector before anything gave it a scope keeps none: its
    // items run under it as under the scope it would make, and that scope is
    // made only when something needs it (a context set, a task spawned). The
    // reference is the same tree where every item makes its scope first
    // (`useScope()`), as every selector did before. A node makes its children,
    // may set a context or spawn a task, waits, reads the context without
    // making a scope, and (but the root) waits to be halted; its cleanup may
    // wait and may throw. The root ends after a while or is halted from outside.
    type Spec = {
      delay: number;
      cleanup: number;
      breaks: boolean;
      sets: boolean;
      spawns: boolean;
      children: Spec[];
    };
    const Ctx = createContext<string>("selector-test-tree", "unset");
    const node = (spec: Spec, name: string, trace: string[], scope: boolean) =>
      function* (): Operation<void> {
        try {
          // the reference makes its scope where a selector made it before;
          // the other takes an effect there too, so that both take as many steps
          if (scope) yield* useScope();
          else yield* readContext(Ctx);
          const selector = spec.children.length > 0 ? yield* useSelector() : undefined;
          for (const [i, child] of spec.children.entries()) {
            selector?.add(i, node(child, `${name}.${i}`, trace, scope)());
          }
          if (spec.sets) yield* Ctx.set(name);
          if (spec.spawns) {
            yield* spawn(function* () {
              try {
                yield* suspend();
              } finally {
                trace.push(`${name}'s task halted`);
              }
            });
          }
          yield* delay(spec.delay);
          trace.push(`${name} sees ${yield* readContext(Ctx)}`);
          if (name !== "r") yield* suspend();
        } finally {
          trace.push(`${name} cleanup`);
          if (spec.cleanup > 0) yield* delay(spec.cleanup);
          // biome-ignore lint/correctness/noUnsafeFinally: a cleanup that fails is the point
          if (spec.breaks) throw new Error(`${name} broke`);
        }
      };
    const run = async (spec: Spec, haltAt: number, scope: boolean) => {
      const trace: string[] = [];
      try {
        await runWithVirtualClock(function* () {
          const outer = yield* useSelector();
          outer.add("root", node(spec, "r", trace, scope)());
          yield* outer.runUntil(delay(haltAt));
        });
      } catch (error) {
        trace.push(`fails: ${(error as Error).message}`);
      }
      return trace;
    };
    const specs = (depth: number): fc.Arbitrary<Spec> =>
      fc.record({
        delay: fc.integer({ min: 0, max: 2 }),
        cleanup: fc.integer({ min: 0, max: 2 }),
        breaks: fc.integer({ min: 0, max: 5 }).map((n) => n === 0),
        sets: fc.integer({ min: 0, max: 2 }).map((n) => n === 0),
        spawns: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
        children: depth === 0 ? fc.constant([]) : fc.array(specs(depth - 1), { maxLength: 3 }),
      });
    await fc.assert(
      fc.asyncProperty(specs(3), fc.integer({ min: 0, max: 6 }), async (tree, halt) => {
        const haltAt = halt + 0.5;
        expect(await run(tree, haltAt, false)).toEqual(await run(tree, haltAt, true));
      }),
      { numRuns: 200 },
    );
  });

  it("refuses items once its scope has ended", async () => {
    let escaped: { add(d: unknown, op: Operation<unknown>): unknown } | undefined;
    await runWithVirtualClock(function* () {
      escaped = yield* useSelector();
    });
    expect(() => escaped?.add("late", valueAfter(1, 1))).toThrow(SelectorClosedError);
    expect(() => escaped?.add("late", valueAfter(1, 1))).toThrow(/scope has ended/);
  });
});
