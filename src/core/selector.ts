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
 * The body of an item that suspended. `add()` runs every item's first step
 * inline and pays for an effection task only when the item suspends; the task
 * then drives this iterator, which resumes the item exactly where the inline
 * step left it and reports the outcome to the selector. It is a class rather
 * than a generator so that a halt that arrives before the task took its first
 * step still unwinds the item (a generator that never started would skip the
 * item's `finally` blocks).
 */
class ItemRoutine<T, D> implements Operation<void>, Iterator<any, void, unknown> {
  private halting = false;
  private settled = false;
  /** "new" until effection takes the first step; "claimed" once {@link unwindUnstarted} took over. */
  private state: "new" | "running" | "claimed" = "new";

  constructor(
    private selector: SelectorImpl<T, D>,
    private data: D,
    private slot: Slot<T, D> | undefined,
    private iterator: Iterator<any, T, unknown>,
    private first: IteratorResult<any, T> | undefined,
  ) {}

  [Symbol.iterator]() {
    return this;
  }

  next(value?: unknown): IteratorResult<any, void> {
    if (this.state === "claimed") return { done: true, value: undefined };
    this.state = "running";
    const first = this.first;
    if (first) {
      this.first = undefined;
      return this.step(() => first);
    }
    return this.step(() => this.iterator.next(value));
  }

  throw(error?: unknown): IteratorResult<any, void> {
    if (this.state === "claimed") return { done: true, value: undefined };
    this.state = "running";
    this.first = undefined;
    return this.step(() => {
      if (this.iterator.throw) return this.iterator.throw(error);
      throw error;
    });
  }

  return(): IteratorResult<any, void> {
    if (this.state === "claimed") return { done: true, value: undefined };
    this.state = "running";
    this.first = undefined;
    this.halting = true;
    return this.step(() =>
      this.iterator.return ? this.iterator.return() : { done: true, value: undefined as T },
    );
  }

  private step(advance: () => IteratorResult<any, T>): IteratorResult<any, void> {
    let result: IteratorResult<any, T>;
    try {
      result = advance();
    } catch (error) {
      if (this.halting) {
        this.settle();
        this.selector.dropped(this.slot);
        throw error; // a failing cleanup fails the halt, as in effection
      }
      this.settle();
      if (isHalted(error)) this.selector.dropped(this.slot);
      else this.selector.finish({ ok: false, data: this.data, error, slot: this.slot });
      return { done: true, value: undefined };
    }
    if (!result.done) return result;
    this.settle();
    if (this.halting) this.selector.dropped(this.slot);
    else this.selector.finish({ ok: true, data: this.data, value: result.value, slot: this.slot });
    return { done: true, value: undefined };
  }

  /**
   * effection defers the start of a task created by `scope.run()` from inside
   * an operation, and a task halted before it started never touches its
   * operation: the item's inline first step would then never be unwound. This
   * unwinds such an item in the calling task (its `finally` blocks may
   * suspend) and claims it, so that a late start is a no-op.
   */
  *unwindUnstarted(): Operation<void> {
    if (this.state !== "new") return;
    this.state = "claimed";
    this.first = undefined;
    const iterator = this.iterator;
    try {
      let result = iterator.return ? iterator.return() : { done: true as const, value: undefined };
      while (!result.done) {
        let input: unknown;
        try {
          input = yield result.value;
        } catch (error) {
          if (!iterator.throw) throw error;
          result = iterator.throw(error);
          continue;
        }
        result = iterator.next(input);
      }
    } finally {
      this.settle();
      this.selector.dropped(this.slot);
    }
  }

  private settle() {
    if (!this.settled) {
      this.settled = true;
      this.selector.running--;
      this.selector.live.delete(this);
    }
  }
}

class SelectorImpl<T, D> implements Selector<T, D> {
  running = 0;
  closed = false;
  finished: Finished<T, D>[] = [];
  slots: Slot<T, D>[] = [];
  waiters: (() => void)[] = [];
  /** Items that suspended and have not finished. */
  live = new Set<ItemRoutine<T, D>>();

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

  /** Called as the owner's scope ends: refuse new items, unwind the ones that never started. */
  *close(): Operation<void> {
    this.closed = true;
    for (const routine of [...this.live]) yield* routine.unwindUnstarted();
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
    const routine = new ItemRoutine(this, data, slot, iterator, first);
    this.live.add(routine);
    const task: Task<void> = this.scope.run(() => routine);
    return {
      *halt() {
        yield* task.halt();
        yield* routine.unwindUnstarted();
      },
    };
  }

  finish(entry: Finished<T, D>) {
    if (entry.slot) entry.slot.refill = true;
    this.finished.push(entry);
    this.wake();
  }

  dropped(slot: Slot<T, D> | undefined) {
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
      yield* selector.close();
    }
  });
}
