import { action, type Operation, race, resource, type Scope, type Task, useScope } from "effection";
import { isHalted, SelectorEmptyError } from "./errors.js";

/** One finished item, as returned by {@link Selector.select}. */
export interface Selected<T, D> {
  /** The `data` given to `add()` / `addGenerator()` for this item. */
  data: D;
  /** The value the item's operation returned. */
  value: T;
}

/** A handle to one item of a selector. */
export interface SelectorItem {
  /**
   * Halts the item (and waits for its cleanup). A halted item is dropped
   * silently: `select()` never reports it. A no-op for a finished item.
   */
  halt(): Operation<void>;
}

/**
 * A structured Future::Selector. See {@link useSelector}.
 */
export interface Selector<T, D = unknown> {
  /** Starts `op` at once as an item of this selector, tagged with `data`. */
  add(data: D, op: Operation<T>): SelectorItem;
  /**
   * Keeps one item from `gen()` alive: calls `gen()` now and, each time its
   * item finishes, again at the start of the next `select()` (at most once per
   * `select()`). `gen()` returning `undefined` ends the generator.
   */
  addGenerator(data: D, gen: () => Operation<T> | undefined): void;
  /**
   * Waits until at least one item has finished and returns every item finished
   * since the last call, in completion order. If an item failed, throws its
   * error instead (failures are delivered before values; the values stay
   * queued for the next call). Throws {@link SelectorEmptyError} if nothing is
   * pending.
   */
  select(): Operation<Selected<T, D>[]>;
  /** Selects forever; only ever throws (the first failure, or empty). */
  run(): Operation<never>;
  /**
   * Selects while `op` runs and returns `op`'s result, or throws its error or
   * the first item failure, whichever comes first. The other items keep
   * running in the selector afterwards.
   */
  runUntil<R>(op: Operation<R>): Operation<R>;
  /** How many items are running (added and not yet finished). */
  readonly size: number;
}

type Finished<T, D> =
  | { ok: true; data: D; value: T; slot: Slot<T, D> | undefined }
  | { ok: false; data: D; error: unknown; slot: Slot<T, D> | undefined };

interface Slot<T, D> {
  data: D;
  gen: () => Operation<T> | undefined;
  refill: boolean;
}

const FINISHED_ITEM: SelectorItem = {
  *halt() {},
};

/**
 * An operation whose first step has already been taken: `add()` runs every
 * item's first step inline and only pays for an effection task when the item
 * actually suspends. The task then resumes this iterator exactly where the
 * inline step left it.
 */
class Resumed<T> implements Operation<T>, Iterator<any, T, unknown> {
  constructor(
    private iterator: Iterator<any, T, unknown>,
    private first: IteratorResult<any, T> | undefined,
  ) {}
  [Symbol.iterator]() {
    return this;
  }
  next(value?: unknown): IteratorResult<any, T> {
    const first = this.first;
    if (first) {
      this.first = undefined;
      return first;
    }
    return this.iterator.next(value);
  }
  throw(error?: unknown): IteratorResult<any, T> {
    this.first = undefined;
    if (this.iterator.throw) return this.iterator.throw(error);
    throw error;
  }
  return(value?: any): IteratorResult<any, T> {
    this.first = undefined;
    if (this.iterator.return) return this.iterator.return(value);
    return { done: true, value };
  }
}

class SelectorImpl<T, D> implements Selector<T, D> {
  running = 0;
  closed = false;
  finished: Finished<T, D>[] = [];
  slots: Slot<T, D>[] = [];
  waiters: (() => void)[] = [];

  constructor(private scope: Scope) {}

  get size(): number {
    return this.running;
  }

  add(data: D, op: Operation<T>): SelectorItem {
    return this.start(data, op, undefined);
  }

  addGenerator(data: D, gen: () => Operation<T> | undefined): void {
    this.assertOpen();
    const slot: Slot<T, D> = { data, gen, refill: false };
    this.slots.push(slot);
    this.refill(slot);
  }

  *select(): Operation<Selected<T, D>[]> {
    for (let i = 0; i < this.slots.length; i++) {
      const slot = this.slots[i];
      if (slot.refill && this.refill(slot) === false) i--;
    }
    for (;;) {
      if (this.finished.length > 0) return this.take();
      if (this.running === 0) throw new SelectorEmptyError();
      yield* this.changed();
    }
  }

  *run(): Operation<never> {
    for (;;) yield* this.select();
  }

  runUntil<R>(op: Operation<R>): Operation<R> {
    const self = this;
    return race([
      op,
      {
        *[Symbol.iterator]() {
          for (;;) {
            if (
              self.running === 0 &&
              self.finished.length === 0 &&
              !self.slots.some((s) => s.refill)
            ) {
              yield* self.changed();
            } else {
              yield* self.select();
            }
          }
        },
      } as Operation<R>,
    ]);
  }

  close(): void {
    this.closed = true;
  }

  private assertOpen() {
    if (this.closed) throw new Error("cannot add to a selector whose scope has ended");
  }

  /** Calls the slot's generator; returns false if the slot ended (and was removed). */
  private refill(slot: Slot<T, D>): boolean {
    slot.refill = false;
    const op = slot.gen();
    if (op === undefined) {
      this.slots.splice(this.slots.indexOf(slot), 1);
      return false;
    }
    this.start(slot.data, op, slot);
    return true;
  }

  private start(data: D, op: Operation<T>, slot: Slot<T, D> | undefined): SelectorItem {
    this.assertOpen();
    const iterator = op[Symbol.iterator]();
    let first: IteratorResult<any, T>;
    try {
      first = iterator.next();
    } catch (error) {
      this.finish({ ok: false, data, error, slot });
      return FINISHED_ITEM;
    }
    if (first.done) {
      this.finish({ ok: true, data, value: first.value, slot });
      return FINISHED_ITEM;
    }
    this.running++;
    const resumed = new Resumed(iterator, first);
    const self = this;
    const task: Task<void> = this.scope.run(function* () {
      let settled = false;
      try {
        const value: T = yield* resumed;
        settled = true;
        self.running--;
        self.finish({ ok: true, data, value, slot });
      } catch (error) {
        settled = true;
        self.running--;
        if (isHalted(error)) self.dropped(slot);
        else self.finish({ ok: false, data, error, slot });
      } finally {
        if (!settled) {
          self.running--;
          self.dropped(slot);
        }
      }
    });
    return {
      *halt() {
        yield* task.halt();
      },
    };
  }

  private finish(entry: Finished<T, D>) {
    if (entry.slot) entry.slot.refill = true;
    this.finished.push(entry);
    this.wake();
  }

  private dropped(slot: Slot<T, D> | undefined) {
    if (slot) slot.refill = true;
    this.wake();
  }

  private wake() {
    const waiters = this.waiters;
    if (waiters.length === 0) return;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  changed(): Operation<void> {
    return action<void>((resolve) => {
      this.waiters.push(resolve);
      return () => {
        const i = this.waiters.indexOf(resolve);
        if (i >= 0) this.waiters.splice(i, 1);
      };
    });
  }

  private take(): Selected<T, D>[] {
    const finished = this.finished;
    const failed = finished.findIndex((entry) => !entry.ok);
    if (failed >= 0) {
      const [entry] = finished.splice(failed, 1);
      throw (entry as { error: unknown }).error;
    }
    this.finished = [];
    const out = new Array<Selected<T, D>>(finished.length);
    for (let i = 0; i < finished.length; i++) {
      const entry = finished[i] as { data: D; value: T };
      out[i] = { data: entry.data, value: entry.value };
    }
    return out;
  }
}

/**
 * Creates a selector bound to the calling scope: the structured
 * Future::Selector. Items are operations that run concurrently in the
 * selector's own scope (a child of the caller's); `select()` collects what has
 * finished. Halting the owner halts every item and waits for their `finally`
 * blocks, so, unlike Future::Selector, no item outlives its owner.
 *
 * An item whose operation finishes without suspending costs no task at all;
 * an item that suspends becomes one effection task.
 *
 * @example
 * ```ts
 * import { main, sleep } from "effection";
 * import { useSelector } from "bough";
 *
 * await main(function* () {
 *   const selector = yield* useSelector<string, string>();
 *   selector.add("slow", function* () { yield* sleep(20); return "b"; }());
 *   selector.add("fast", function* () { yield* sleep(10); return "a"; }());
 *   while (selector.size > 0) {
 *     for (const { data, value } of yield* selector.select()) console.log(data, value);
 *   }
 * });
 * ```
 *
 * @example A ticker kept alive by a generator, run alongside the main operation
 * ```ts
 * const selector = yield* useSelector<void, string>();
 * selector.addGenerator("tick", () => tickOnce());
 * const result = yield* selector.runUntil(serveRequests());
 * ```
 */
export function useSelector<T = unknown, D = unknown>(): Operation<Selector<T, D>> {
  return resource<Selector<T, D>>(function* (provide) {
    const scope = yield* useScope();
    const selector = new SelectorImpl<T, D>(scope);
    try {
      yield* provide(selector);
    } finally {
      selector.close();
    }
  });
}
