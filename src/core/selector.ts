import {
  action,
  type Effect,
  type Operation,
  type Result,
  race,
  resource,
  type Scope,
  useScope,
} from "effection";
import { thrownValue } from "./effection-internals.js";
import { isHalted, SelectorEmptyError } from "./errors.js";
import { itemName, labelsWatched, watchedAs } from "./labels.js";
import { LightRoutine } from "./light-routine.js";

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

interface Slot<T, D> {
  data: D;
  gen: () => Operation<T> | undefined;
  refill: boolean;
}

const FINISHED_ITEM: SelectorItem = {
  *halt() {},
};

/**
 * An item that suspended. `add()` runs every item's first step inline; an
 * item that suspends continues as a {@link LightRoutine} (a few µs) rather
 * than an effection task (~40–100 µs), and reports its outcome here. The
 * routine is also the item's handle: its `halt()` unwinds the item and waits
 * for its `finally` blocks.
 */
class ItemRoutine<T, D> extends LightRoutine<T> implements SelectorItem {
  /** Neighbours in the selector's list of live items (cheaper than a Set). */
  before: ItemRoutine<T, D> | undefined;
  after: ItemRoutine<T, D> | undefined;

  constructor(
    private selector: SelectorImpl<T, D>,
    private tag: D,
    private slot: Slot<T, D> | undefined,
    iterator: Iterator<Effect<unknown>, T, unknown>,
    first: Effect<unknown>,
    scope: Scope,
  ) {
    super(iterator, first, scope);
  }

  protected done(outcome: Result<T>): void {
    const selector = this.selector;
    selector.unlink(this);
    // A halted item is dropped; an error while halting fails the halt instead
    // (see LightRoutine.halt), as in effection.
    if (this.interrupted) selector.dropped(this.slot);
    else if (outcome.ok) selector.succeeded(this.tag, outcome.value, this.slot);
    else if (isHalted(outcome.error)) selector.dropped(this.slot);
    else selector.failed(thrownValue(outcome.error), this.slot);
  }
}

class SelectorImpl<T, D> implements Selector<T, D> {
  running = 0;
  closed = false;
  /** Values of finished items, in completion order, not yet selected. */
  values: Selected<T, D>[] = [];
  /** Errors of failed items, in completion order, not yet thrown by select. */
  failures: unknown[] = [];
  slots: Slot<T, D>[] = [];
  waiters: (() => void)[] = [];
  private waking = false;
  /** Counts waits in `changed()` (lets `runUntil` see a select that did not wait). */
  waits = 0;
  /** The first of the items that suspended and have not finished. */
  live: ItemRoutine<T, D> | undefined;

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
      if (this.failures.length > 0) throw this.failures.shift();
      if (this.values.length > 0) return this.take();
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
            const waits = self.waits;
            if (
              self.running === 0 &&
              self.values.length === 0 &&
              self.failures.length === 0 &&
              !self.slots.some((s) => s.refill)
            ) {
              yield* self.changed();
            } else {
              yield* self.select();
            }
            // select() returned without waiting (items finish synchronously,
            // e.g. a generator of ready items): give `op` its turn — the
            // reducer's, then the event loop's — before selecting again, or
            // it could never win (Future::Selector's run_until_ready test).
            if (self.waits === waits) yield* yieldToEventLoop();
          }
        },
      } as Operation<R>,
    ]);
  }

  /**
   * Called as the owner's scope ends: refuse new items, halt every live item
   * (all at once) and wait for their `finally` blocks. The first error thrown
   * by a cleanup fails the close, as a failing cleanup fails a task's halt.
   */
  *close(): Operation<void> {
    this.closed = true;
    const live: ItemRoutine<T, D>[] = [];
    for (let item = this.live; item; item = item.after) live.push(item);
    for (const routine of live) routine.interrupt();
    let failure: { error: unknown } | undefined;
    for (const routine of live) {
      try {
        yield* routine.halt();
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure) throw failure.error;
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
    if (labelsWatched()) op = watchedAs(itemName(data), op, { kind: "selector item" });
    const iterator = op[Symbol.iterator]();
    let first: IteratorResult<Effect<unknown>, T>;
    try {
      first = iterator.next();
    } catch (error) {
      this.failed(error, slot);
      return FINISHED_ITEM;
    }
    if (first.done) {
      this.succeeded(data, first.value, slot);
      return FINISHED_ITEM;
    }
    this.running++;
    const routine = new ItemRoutine(this, data, slot, iterator, first.value, this.scope);
    const head = this.live;
    if (head) {
      routine.after = head;
      head.before = routine;
    }
    this.live = routine;
    routine.start();
    return routine;
  }

  /** Removes a settled item from the live list. */
  unlink(item: ItemRoutine<T, D>) {
    this.running--;
    const { before, after } = item;
    if (before) before.after = after;
    else this.live = after;
    if (after) after.before = before;
    item.before = item.after = undefined;
  }

  succeeded(data: D, value: T, slot: Slot<T, D> | undefined) {
    if (slot) slot.refill = true;
    this.values.push({ data, value });
    this.wake();
  }

  failed(error: unknown, slot: Slot<T, D> | undefined) {
    if (slot) slot.refill = true;
    this.failures.push(error);
    this.wake();
  }

  dropped(slot: Slot<T, D> | undefined) {
    if (slot) slot.refill = true;
    this.wake();
  }

  /**
   * Wakes the waiting `select()` once per microtask, not once per finished
   * item: items that finish together (promises settling in one tick) are
   * delivered by one `select()` (FACTS.md: 4.5 → 0.46 µs per item).
   */
  private wake() {
    if (this.waiters.length === 0 || this.waking) return;
    this.waking = true;
    queueMicrotask(this.flush);
  }

  private flush = () => {
    this.waking = false;
    const waiters = this.waiters;
    if (waiters.length === 0) return;
    this.waiters = [];
    for (const wake of waiters) wake();
  };

  changed(): Operation<void> {
    this.waits++;
    return action<void>((resolve) => {
      this.waiters.push(resolve);
      return () => {
        const i = this.waiters.indexOf(resolve);
        if (i >= 0) this.waiters.splice(i, 1);
      };
    });
  }

  private take(): Selected<T, D>[] {
    const values = this.values;
    this.values = [];
    return values;
  }
}

/** Resumes on the next turn of the event loop (after pending I/O and promises). */
function yieldToEventLoop(): Operation<void> {
  return action<void>((resolve) => {
    const handle = setImmediate(resolve);
    return () => clearImmediate(handle);
  });
}

/**
 * Creates a selector bound to the calling scope: the structured
 * Future::Selector. Items are operations that run concurrently in the
 * selector's own scope (a child of the caller's); `select()` collects what has
 * finished. Halting the owner halts every item and waits for their `finally`
 * blocks, so, unlike Future::Selector, no item outlives its owner.
 *
 * An item whose operation finishes without suspending costs no task at all;
 * an item that suspends continues as a light coroutine stepped by bough (see
 * `light-routine.ts`), not as an effection task; it gets a scope of its own
 * only if it touches one (spawn, resource, contexts…).
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
