import {
  type Effect,
  Ok,
  type Operation,
  type Result,
  race,
  resource,
  type Scope,
  useScope,
} from "effection";
import { EffectOperation, exitAtOnce } from "./effect-operation.js";
import { adoptChild, lightRoutines } from "./effection-internals.js";
import { isHalted, SelectorClosedError, SelectorEmptyError } from "./errors.js";
import { itemName, labelsWatched, watchedAs } from "./labels.js";
import { LightRoutine } from "./light-routine.js";
import { once } from "./once.js";
import { RoutineGroup, type RoutineReports } from "./routine-group.js";
import { createWakeCell } from "./wake-cell.js";
import { yieldToEventLoop } from "./yield-to-event-loop.js";

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
  /**
   * Starts `op` at once as an item of this selector, tagged with `data`: its
   * first step runs inside this call. A plain call, not an operation: a loop
   * of thousands of adds runs to its end before any item can settle, so all
   * of them wait at once; yield with `yieldToEventLoop()` every few thousand
   * (see the core guide, "Adding many items").
   */
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
 * The selector: a {@link RoutineGroup} of items (an item that suspends is a
 * light routine, a few µs, not an effection task) whose outcomes are queued
 * for `select()`. Each item is tagged with its data and, for a generator's
 * item, its slot.
 */
class SelectorImpl<T, D> implements Selector<T, D>, RoutineReports<T, D, Slot<T, D> | undefined> {
  closed = false;
  private group: RoutineGroup<T, D, Slot<T, D> | undefined>;
  /** Values of finished items, in completion order, not yet selected. */
  values: Selected<T, D>[] = [];
  /** Errors of failed items, in completion order, not yet thrown by select. */
  failures: unknown[] = [];
  slots: Slot<T, D>[] = [];
  /**
   * Signalled when an item finishes. It wakes `select()` once per microtask,
   * not once per finished item: items that finish together (promises settling
   * in one tick) are delivered by one `select()` (FACTS.md: 4.5 → 0.46 µs per
   * item). Its `waits` lets `runUntil` see a `select()` that did not wait.
   */
  private changed = createWakeCell("microtask");

  /** `owner`: the scope items run under, or a light routine without one (see {@link UseSelector}). */
  constructor(owner: Scope | LightRoutine<unknown>) {
    this.group =
      owner instanceof LightRoutine
        ? RoutineGroup.underRoutine(owner, this)
        : new RoutineGroup(owner, this);
  }

  get size(): number {
    return this.group.size;
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
      if (this.group.size === 0) throw new SelectorEmptyError();
      yield* this.changed.wait();
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
            const waits = self.changed.waits;
            if (
              self.group.size === 0 &&
              self.values.length === 0 &&
              self.failures.length === 0 &&
              !self.slots.some((s) => s.refill)
            ) {
              yield* self.changed.wait();
            } else {
              yield* self.select();
            }
            // select() returned without waiting (items finish synchronously,
            // e.g. a generator of ready items): give `op` its turn — the
            // reducer's, then the event loop's — before selecting again, or
            // it could never win (Future::Selector's run_until_ready test).
            if (self.changed.waits === waits) yield* yieldToEventLoop();
          }
        },
      } as Operation<R>,
    ]);
  }

  /**
   * Called as the owner's scope ends: refuse new items, halt every live item
   * (all at once) and wait for their `finally` blocks. The first error thrown
   * by a cleanup fails the close, as a failing cleanup fails a task's halt. It
   * runs once: a second call (see RoutineReports.close) waits for the first
   * and ends as it did.
   */
  readonly close = once(() => this.closing());

  private *closing(): Operation<void> {
    this.closed = true;
    yield* this.group.close();
  }

  private assertOpen() {
    if (this.closed) throw new SelectorClosedError();
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
    return this.group.start(data, slot, op) ?? FINISHED_ITEM;
  }

  // --- what the group reports ---

  returned(data: D, slot: Slot<T, D> | undefined, value: T): void {
    if (slot) slot.refill = true;
    this.values.push({ data, value });
    this.changed.signal();
  }

  failed(_data: D, slot: Slot<T, D> | undefined, error: unknown, halted: boolean): void {
    if (slot) slot.refill = true;
    // A halted item is dropped: an error while halting fails its halt() instead, and
    // an item that failed by joining a halted task was halted in effect; as in effection.
    if (!halted && !isHalted(error)) this.failures.push(error);
    this.changed.signal();
  }

  halted(_data: D, slot: Slot<T, D> | undefined): void {
    if (slot) slot.refill = true;
    this.changed.signal();
  }

  private take(): Selected<T, D>[] {
    const values = this.values;
    this.values = [];
    return values;
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
  return lightRoutines ? new UseSelector<T, D>() : useSelectorResource<T, D>();
}

/**
 * The selector as a child of the calling coroutine without a task: its items
 * run under the caller's scope (at the priority they had under a resource
 * task, which runs at its caller's), and closing it joins the caller's
 * spawned children, halted newest first when the caller's body ends (see
 * `adoptChild`). A resource task per selector cost ~85% of a tree of nested
 * selectors. A caller that is a light routine without a scope (an item of
 * another selector) keeps none: its items run under it as under the scope it
 * would make (`RoutineGroup.underRoutine`) and it closes the selector itself
 * (`LightRoutine.adopt`); that scope cost a third of a tree's memory and of
 * its build and halt time. Entered as an effect: it needs its coroutine.
 */
class UseSelector<T, D> extends EffectOperation<Selector<T, D>> {
  readonly description = "useSelector()";

  enter(
    resolve: (result: Result<Selector<T, D>>) => void,
    routine: Parameters<Effect<Selector<T, D>>["enter"]>[1],
  ): (didExit: (result: Result<void>) => void) => void {
    let selector: SelectorImpl<T, D>;
    if (routine instanceof LightRoutine && routine.currentScope === undefined) {
      const owner = routine as LightRoutine<unknown>;
      selector = new SelectorImpl<T, D>(owner);
      owner.adopt(() => selector.close());
    } else {
      const scope = routine.scope;
      selector = new SelectorImpl<T, D>(scope);
      adoptChild(scope, () => selector.close());
    }
    resolve(Ok(selector));
    return exitAtOnce;
  }

  protected again(): UseSelector<T, D> {
    return new UseSelector<T, D>();
  }
}

/** With light routines off (effection's internals failed the self-check): a resource. */
function useSelectorResource<T, D>(): Operation<Selector<T, D>> {
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
