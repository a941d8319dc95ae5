import {
  action,
  type Context,
  type Coroutine,
  type Effect,
  Err,
  Ok,
  type Operation,
  type Result,
  type Scope,
  scoped,
  type Task,
  useScope,
} from "effection";
import { Continuation } from "./continuation.js";
import { DONE_ITERATOR } from "./done.js";
import { EffectOperation, exitAtOnce, OK } from "./effect-operation.js";
import {
  adoptChild,
  beforeOutsideDestroy,
  childPriority,
  createChildScope,
  createTaskGroup,
  ErrorBoundary,
  isHaltError,
  lightRoutines,
  PRIORITY_CONTEXT,
  priorityOf,
  type Reducer,
  type ReducerEntry,
  reducerOf,
  type TaskGroup,
  TaskGroupContext,
  thrownValue,
} from "./effection-internals.js";

/*
 * A light routine runs one operation the way an effection task does, but
 * without a task: no Scope (unless an effect needs one), no Future, no Task
 * object. It costs a few microseconds where a task costs ~40–100 (see
 * FACTS.md, "Why an effection task costs ~40 µs").
 *
 * How it stays faithful to effection. An operation is an iterator of
 * `Effect`s, and an effect only ever talks to the coroutine it is given in
 * `effect.enter(resolve, routine)`. effection exports the `Effect` and
 * `Coroutine` types, so a light routine implements `Coroutine` and drives the
 * iterator exactly as effection's own `createCoroutine()` does
 * (node_modules/effection/esm/lib/coroutine.js, effection 4.1): the same
 * `data` fields (`exit`, `resumeWith`, `unwinding`, `critical`), the same
 * `resume()` (exit the current effect, then step with its result),
 * `unwind()` (return() from the iterator unless critical), `step()` (with
 * `unbox`, so a non-Error throw arrives as the value thrown) and `perform()`.
 * That is what lets effection's own operations that reach for their
 * coroutine (`trap`, `critical`, `scoped`, `resource`, `all`, `race`,
 * through the private `useCoroutine()` effect) work unchanged on it.
 *
 * What it does as a task does (every use of effection's undocumented parts
 * is in effection-internals.ts, checked at load):
 * - Scheduling. Each step is scheduled on effection's own reducer, at the
 *   priority the routine's task would have (its current scope's: deeper
 *   inside `scoped()`), through a small `Entry` the reducer sees as the
 *   coroutine. So the routine and the tasks around it take their steps in
 *   the same order as under a task; the conformance suite
 *   (test/core/conformance) compares the two on generated programs.
 * - Scope. Most items never touch `routine.scope` (`sleep`, `until`,
 *   `action`, `call(async)`, channel/signal subscriptions, selector waits). A
 *   light routine therefore creates its scope only when an effect reads
 *   `routine.scope` (`spawn`, `resource`, `ensure`, `useScope`, context
 *   get/set, `all`, `race`, `scoped`): a child of the parent scope, made and
 *   later destroyed through `api.Scope` (what effection's own `scoped()`
 *   calls; it honours scope middleware), with an error boundary and a task
 *   group of its own. A selector made by a routine that has no scope does not
 *   make one either: its items are scheduled one deeper than the routine and
 *   see its contexts through {@link LightRoutine.contextScope}, and the
 *   routine closes it itself ({@link LightRoutine.adopt}); the scope is made
 *   only when something needs it, and the selector then moves into its task
 *   group (a third of a tree of nested selectors' memory and time was those
 *   scopes).
 * - Its end. When the operation ends, the routine halts the tasks it
 *   spawned (newest first, as a task's group), then destroys its scope, then
 *   settles — so a reply or a selected value is never seen before the
 *   cleanup it depends on.
 * - Errors of children. A failing child calls `raise(error)` on the error
 *   boundary of its owner scope ("@effection/error-boundary"). While the
 *   operation runs, or its children are halted, the routine records it (the
 *   last one wins) and unwinds, as a task's trap does; once it destroys its
 *   scope (a task's trap has exited then), the failure goes to the parent's
 *   boundary.
 * - No `future`. Nothing in effection 4.1 reads `routine.future` except a
 *   task reading its own; a light routine has none.
 *
 * The hand-off rule. An effect that reads `routine.future` while it is being
 * entered is abandoned at that point and entered again by a real effection
 * task, which runs the rest of the operation (in the routine's scope, so
 * contexts carry over) while the routine joins it; halting the routine halts
 * that task. Such an effect is entered twice, which is safe when it reads its
 * coroutine before acting, as every effection effect does. Read outside
 * `enter()`, `future` throws.
 *
 * Fallback mode. When effection-internals' self-check fails (or
 * BOUGH_LIGHT_ROUTINES=off), `start()` runs the whole operation as an
 * effection task in the parent scope instead; the routine only reports its
 * outcome.
 */

type Exit = (resolve: (result: Result<unknown>) => void) => void;

/**
 * The parent of the last routine scheduled (a scope, or the light routine
 * that owns its group), with its reducer and the priority its children run at.
 */
let cachedParent: Scope | LightRoutine<unknown> | undefined;
let cachedReducer: Reducer | undefined;
let cachedPriority = 0;

// The phase: two bits of LightRoutine's flags.
const BODY = 0;
/** Halting the children it spawned (a task does this inside its error trap). */
const TEARDOWN = 64;
/** Destroying its scope (a task does this after its trap: raises go to the parent). */
const DISPOSING = 128;
const SETTLED = 192;
const PHASE = 192;

/** Bits of {@link LightRoutine}'s flags. */
const INTERRUPTED = 1;
/** An effect is being entered (see {@link LightRoutine.future}). */
const ENTERING = 2;
/** {@link LightRoutine.start} is entering the first effect inline. */
const STARTING = 4;
/** A turn was asked for meanwhile, taken once the effect is entered. */
const DEFERRED = 8;
/** effection's `data.critical`. */
const CRITICAL = 16;
/** effection's `data.unwinding`. */
const UNWINDING = 32;

/**
 * An effect with a cheaper way in for a light routine: instead of
 * `enter(resolve, routine)`, whose `resolve` is a closure made for each
 * effect, a light routine calls `enterLight(routine, epoch)`, and the effect
 * calls `routine.resumeAt(epoch, result)` when it is done. It must do
 * exactly what its `enter()` does (which tasks still use). A selector waiting
 * on 100,000 promises keeps one closure and one context less per item.
 *
 * @example
 * ```ts
 * class Wait extends EffectOperation<number> implements LightEffect {
 *   enter(resolve) { promise.then((v) => resolve(Ok(v))); return exitAtOnce; }
 *   enterLight(routine, epoch) {
 *     promise.then((v) => routine.resumeAt(epoch, Ok(v)));
 *     return exitAtOnce;
 *   }
 * }
 * ```
 */
export interface LightEffect {
  enterLight(routine: LightRoutine<unknown>, epoch: number): Exit;
}

/** The rarely used state of a light routine (see `LightRoutine.more`). */
interface RoutineExtras<T> {
  /** Its scope, once an effect needed one (or `scoped()` swapped it in). */
  current: Scope | undefined;
  dispose: (() => Operation<void>) | undefined;
  /** The tasks spawned in the lazy scope, halted first when the operation ends. */
  group: TaskGroup | undefined;
  /** The last failure a child raised (as effection's trap, the last one wins). */
  raised: { error: unknown } | undefined;
  /** What `halt()` calls wait on. */
  waiters: (() => void)[] | undefined;
  /** In fallback mode (light routines off), the task that runs the operation. */
  task: Task<T> | undefined;
  /** In fallback mode, whether that task took its first turn. */
  taskStarted: boolean;
  /** Once settled, what {@link LightRoutine.haltFailure} reports. */
  haltFailure: { error: unknown } | undefined;
  /**
   * Children adopted while it had no scope (see {@link LightRoutine.adopt}),
   * oldest first: closed newest first when the operation ends, or moved into
   * the scope's task group when one is made.
   */
  adopted: (() => Operation<void>)[] | undefined;
}

/**
 * A coroutine that runs one operation without an effection task, stepped by
 * this module's trampoline. Subclasses learn the outcome in {@link done}.
 * Start it with {@link start}; stop it with {@link interrupt} or
 * {@link halt}.
 *
 * @example
 * ```ts
 * class Logged<T> extends LightRoutine<T> {
 *   constructor(iterator: Iterator<Effect<unknown>, T, unknown>, protected parent: Scope) {
 *     super(iterator);
 *   }
 *   protected done(outcome: Result<T>) { console.log(outcome, this.interrupted); }
 * }
 * const iterator = sleep(10)[Symbol.iterator]();
 * const first = iterator.next();
 * if (!first.done) new Logged(iterator, yield* useScope()).start(first.value);
 * ```
 */
export abstract class LightRoutine<T> implements Coroutine<T> {
  // The coroutine state that effects and effection's own operations read as
  // `routine.data`. The routine is its own data record (one object per item
  // instead of two).
  exit: Exit = exitAtOnce;
  resumeWith: Result<unknown> = OK;

  /** Part of effection's `data` shape; the reducer reads the {@link Entry}'s instead. */
  get enqueued(): boolean {
    return this.entry?.enqueued ?? false;
  }

  /** Ignored (nothing but the reducer writes it, and on the Entry): a write must not throw. */
  set enqueued(_enqueued: boolean) {}

  /** effection's `data.critical` (its `critical()` sets it): a bit of {@link flags}. */
  get critical(): boolean {
    return (this.flags & CRITICAL) !== 0;
  }

  set critical(critical: boolean) {
    this.flags = critical ? this.flags | CRITICAL : this.flags & ~CRITICAL;
  }

  /** effection's `data.unwinding`: a bit of {@link flags}. */
  get unwinding(): boolean {
    return (this.flags & UNWINDING) !== 0;
  }

  set unwinding(unwinding: boolean) {
    this.flags = unwinding ? this.flags | UNWINDING : this.flags & ~UNWINDING;
  }

  /** effection's `routine.data`: the fields above. */
  get data(): this {
    return this;
  }

  /**
   * {@link INTERRUPTED}, {@link ENTERING}, {@link STARTING}, {@link DEFERRED},
   * {@link CRITICAL}, {@link UNWINDING} and the phase ({@link BODY} to
   * {@link SETTLED}, two bits): one field, where a routine object per waiting
   * item makes every field count at 100,000 of them.
   */
  private flags = 0;
  private iterator: Iterator<Effect<unknown>, unknown, unknown>;
  /**
   * Counts resumes and performs. A resolve callback is live only while the
   * count is the one it was created with; this stands for effection's
   * `resolver === resolve` check without a named closure per effect.
   */
  private epoch = 0;
  /**
   * What only some routines need (a scope of their own, a halt waiting, a
   * child's failure, fallback mode's task), made on first use. A selector
   * with 100,000 waiting items keeps one routine object each: fields that most
   * never use would be copied by every collection.
   */
  private more: RoutineExtras<T> | undefined = undefined;

  /**
   * What effection's reducer schedules: this routine, seen at its task's
   * priority. Made on the first turn it needs: an item that waits from the
   * moment it is added (a promise, a timer) holds none while it waits.
   */
  private entry: Entry | undefined = undefined;

  /**
   * @param iterator an operation's iterator, already stepped once; give
   *   {@link start} the effect that step yielded
   */
  constructor(iterator: Iterator<Effect<unknown>, T, unknown>) {
    this.iterator = iterator;
  }

  /** The scope a lazily created scope hangs from (a getter: one field less per routine). */
  protected abstract get parent(): Scope;

  /**
   * The scope whose contexts the routine sees while it has none of its own,
   * without creating any: {@link parent} unless a subclass can answer more
   * cheaply (a member of a group owned by a routine without a scope answers
   * with that routine's {@link contextScope}).
   */
  protected get contextParent(): Scope {
    return this.parent;
  }

  /**
   * What the routine is scheduled as a child of, without creating a scope: a
   * scope (it runs at that scope's child priority) or a light routine that
   * has none (it runs one deeper than that routine, as its task's child would).
   */
  protected get schedulingParent(): Scope | LightRoutine<unknown> {
    return this.parent;
  }

  private get phase(): number {
    return this.flags & PHASE;
  }

  private set phase(phase: number) {
    this.flags = (this.flags & ~PHASE) | phase;
  }

  /**
   * Called once, when the routine settled (its scope, if any, destroyed). A
   * failure's `error` may wrap a non-Error throw: pass it through
   * {@link thrownValue} to get the value the operation threw.
   */
  protected abstract done(outcome: Result<T>): void;

  /**
   * Performs the first effect, `first` (what the iterator's first step
   * yielded), at once; call it right after constructing the routine. With
   * light routines off (see effection-internals.ts), starts a task instead.
   */
  start(first: Effect<unknown>): void {
    if (!lightRoutines) {
      this.startTask(first);
      return;
    }
    // Enter the first effect now, not in a turn of the reducer: the step that
    // yielded it already ran (inline, in `add()` or the request event), and
    // queueing 100,000 new items in effection's priority queue costs ~10×
    // more than entering their effects (its tiers compact by copying). Entering
    // only registers what the item waits for; anything it resumes or spawns is
    // still scheduled by the reducer, in order (the conformance suite checks).
    // An effect that resolves inside enter() must not step the routine before
    // perform() installed its exit (the reducer never steps re-entrantly).
    this.flags |= STARTING;
    this.perform(first);
    const flags = this.flags;
    this.flags = flags & ~(STARTING | DEFERRED);
    if (flags & DEFERRED) this.schedule();
  }

  /** Queues a turn on effection's reducer (which runs it at once when idle). */
  private schedule(): void {
    if (this.flags & STARTING) {
      this.flags |= DEFERRED;
      return;
    }
    let entry = this.entry;
    if (entry === undefined) {
      this.lookUpParent();
      entry = this.entry = new Entry(this, cachedReducer as Reducer, cachedPriority);
    }
    entry.reducer.schedule(entry);
  }

  /**
   * Sets the cached reducer and priority to this routine's. A selector or a
   * server makes all its routines under one parent: they are looked up once.
   */
  private lookUpParent(): void {
    const parent = this.schedulingParent;
    if (parent === cachedParent) return;
    let reducer: Reducer;
    let priority: number;
    if (parent instanceof LightRoutine) {
      priority = parent.basePriority + 1;
      reducer = reducerOf(parent.contextScope);
    } else {
      reducer = reducerOf(parent);
      priority = childPriority(parent);
    }
    cachedParent = parent;
    cachedReducer = reducer;
    cachedPriority = priority;
  }

  /**
   * The priority the routine runs at, as its task would (its own scope's,
   * not a deeper `scoped()` one's), without creating a scope. @internal
   */
  get basePriority(): number {
    const entry = this.entry;
    if (entry !== undefined) return entry.priority;
    this.lookUpParent();
    return cachedPriority;
  }

  /**
   * Makes `close` a child of the routine, as {@link adoptChild} makes it one
   * of a scope's coroutine, without creating a scope: `close` runs when the
   * operation ends, newest first, before the routine settles (a failure it
   * throws fails the routine). If the routine makes its scope later, the
   * children adopted so far move into that scope's task group, in order, and
   * are halted with what it spawns. Only for a routine that has no scope
   * yet ({@link currentScope} is undefined). @internal
   */
  adopt(close: () => Operation<void>): void {
    const more = this.extras();
    (more.adopted ??= []).push(close);
  }

  /** Whether the routine has settled. */
  get settled(): boolean {
    return this.phase === SETTLED;
  }

  /** True once {@link interrupt} was called before the routine settled. */
  get interrupted(): boolean {
    return (this.flags & INTERRUPTED) !== 0;
  }

  /** The last failure a child raised (as effection's trap, the last one wins). */
  get raised(): { error: unknown } | undefined {
    return this.more?.raised;
  }

  set raised(raised: { error: unknown } | undefined) {
    if (raised !== undefined || this.more !== undefined) this.extras().raised = raised;
  }

  private extras(): RoutineExtras<T> {
    return (this.more ??= {
      current: undefined,
      dispose: undefined,
      group: undefined,
      raised: undefined,
      waiters: undefined,
      task: undefined,
      taskStarted: false,
      haltFailure: undefined,
      adopted: undefined,
    });
  }

  /**
   * The routine's scope, created on first use as a child of the parent scope.
   * `scoped()` swaps it for the duration of its body, hence the setter.
   */
  get scope(): Scope {
    let scope = this.more?.current;
    if (!scope) {
      // Nothing runs after settling; never create a scope nobody destroys.
      if (this.phase === SETTLED) return this.parent;
      const [child, dispose] = createChildScope(this.parent);
      const more = this.extras();
      // destroyed by its parent scope before this routine ended (a scoped()
      // body's end): end the routine first, as halting a task does
      beforeOutsideDestroy(
        child,
        () => this.phase < DISPOSING,
        () => this.endedFromOutside(),
      );
      child.set(ErrorBoundary, { raise: (error: unknown) => this.raise(error) });
      child.set(TaskGroupContext, (more.group = createTaskGroup()));
      more.dispose = dispose;
      more.current = scope = child;
      const adopted = more.adopted;
      if (adopted !== undefined) {
        more.adopted = undefined;
        for (const close of adopted) adoptChild(child, close);
      }
    }
    return scope;
  }

  set scope(scope: Scope) {
    this.extras().current = scope;
  }

  /**
   * The scope whose contexts the routine sees, without creating one: its own
   * if it has one, else its parent's (it has set nothing yet; a set would
   * have created its scope).
   */
  get contextScope(): Scope {
    return this.more?.current ?? this.contextParent;
  }

  /** The scope, if one was created (for the reducer's priority). */
  get currentScope(): Scope | undefined {
    return this.more?.current;
  }

  /**
   * A light routine has no future. Read by an effect being entered, this
   * hands the operation to a real task (see the fallback rule above).
   */
  get future(): never {
    if (this.flags & ENTERING) throw NEEDS_TASK;
    throw new Error("a light routine has no future (bough selector item)");
  }

  /** Starts unwinding the routine, as halting a task does; a no-op once settled. */
  interrupt(): void {
    if (this.phase === SETTLED || this.flags & INTERRUPTED) return;
    this.flags |= INTERRUPTED;
    if (lightRoutines) this.unwind();
    // fallback mode: halt T once it took its first turn (which checks `interrupted`)
    else if (this.more?.taskStarted) this.more.task?.halt().then(undefined, () => {});
  }

  /**
   * Interrupts the routine and waits until it settled. Throws if unwinding
   * failed (a `finally` block threw), as halting a task does; a no-op for a
   * routine that already settled.
   */
  *halt(): Operation<void> {
    this.interrupt();
    // fallback mode: the task's halt throws what its cleanup threw
    const task = this.more?.task;
    let failure: { error: unknown } | undefined;
    if (task && this.more?.taskStarted) {
      try {
        yield* task.halt();
      } catch (error) {
        failure = { error };
      }
    }
    yield* this.untilSettled();
    if (failure) throw failure.error;
    const halting = this.haltFailure;
    if (halting) throw halting.error;
  }

  /**
   * Its scope is being destroyed from outside (see `beforeOutsideDestroy`):
   * halts the routine if its body still runs and waits until it settled (its
   * own end destroys the scope). A failure is reported where the routine
   * reports its outcome, not here.
   */
  protected *endedFromOutside(): Operation<void> {
    if (this.phase === BODY) this.interrupt();
    yield* this.untilSettled();
  }

  /** Waits until the routine settled (at once if it has). */
  private *untilSettled(): Operation<void> {
    if (this.phase === SETTLED) return;
    yield* action<void>((resolve) => {
      const more = this.extras();
      const waiters = (more.waiters ??= []);
      waiters.push(resolve);
      return () => {
        const i = waiters.indexOf(resolve);
        if (i >= 0) waiters.splice(i, 1);
      };
    });
  }

  /**
   * Once settled, what {@link halt} throws: the failure of the unwinding an
   * interrupt asked for (a `finally` block threw). A routine that had already
   * failed on its own reports that elsewhere, not here.
   */
  get haltFailure(): { error: unknown } | undefined {
    return this.more?.haltFailure;
  }

  // --- effection's Coroutine protocol, as in esm/lib/coroutine.js ---

  resume(result: Result<unknown>): void {
    this.epoch++;
    const exit = this.exit;
    if (exit === exitAtOnce) {
      // what exitAtOnce would call back with Ok(), without a callback made per resume
      this.resumeWith = result;
      this.schedule();
      return;
    }
    exit((exitResult) => {
      this.exit = exitAtOnce;
      this.resumeWith = exitResult.ok ? result : exitResult;
      this.schedule();
    });
  }

  unwind(): void {
    this.unwinding = true;
    if (!this.critical) this.resume(OK);
  }

  step(): IteratorResult<Effect<unknown>, T> {
    const iterator = this.iterator;
    const resumeWith = this.resumeWith;
    // read once: drop it, so that a routine promoted to the old generation does not keep
    // a young result alive through the next scavenges (every resume makes one)
    this.resumeWith = OK;
    if (!resumeWith.ok) {
      this.unwinding = false;
      // effection wraps a non-Error throw in a ThrownValueError; unbox gives back the thrown value
      const error = thrownValue(resumeWith.error);
      if (iterator.throw) return iterator.throw(error) as IteratorResult<Effect<unknown>, T>;
      throw error;
    }
    if (this.unwinding && !this.critical) {
      this.unwinding = false;
      return (
        iterator.return ? iterator.return() : { done: true, value: undefined }
      ) as IteratorResult<Effect<unknown>, T>;
    }
    return iterator.next(resumeWith.value) as IteratorResult<Effect<unknown>, T>;
  }

  perform(effect: Effect<unknown>): void {
    const epoch = ++this.epoch;
    this.flags |= ENTERING;
    try {
      const enterLight = (effect as Partial<LightEffect>).enterLight;
      this.exit =
        enterLight !== undefined
          ? enterLight.call(effect, this, epoch)
          : effect.enter((result) => {
              if (this.epoch === epoch) this.resume(result);
            }, this);
    } catch (error) {
      if (error === NEEDS_TASK) this.handOff(effect);
      else this.resume(Err(error as Error));
    } finally {
      this.flags &= ~ENTERING;
    }
  }

  /**
   * Resumes with `result` if the routine is still in the effect it entered as
   * `epoch` (what a {@link LightEffect}'s callbacks call; later calls, or
   * calls after the routine moved on, are ignored, as effection ignores a
   * stale `resolve`).
   */
  resumeAt(epoch: number, result: Result<unknown>): void {
    if (this.epoch === epoch) this.resume(result);
  }

  /** Part of effection's `Coroutine` type; a light routine settles itself. */
  settle(outcome: Parameters<Coroutine<T>["settle"]>[0]): void {
    if (outcome.exists) this.finished(outcome.value as Result<unknown>);
  }

  // --- driving ---

  /**
   * Fallback mode: the operation runs as a plain effection task T, so that
   * it behaves as a task by construction (halting T reports what its cleanup
   * threw exactly as halting any task does). T runs under a host task whose
   * `scoped()` is T's error boundary: T's failure settles this routine (as a
   * light routine's would) instead of failing the parent. Only documented
   * effection API is used here: this is the mode for an effection whose
   * internals failed the self-check.
   */
  private startTask(first: Effect<unknown>): void {
    const rest = new Continuation<T>(this.iterator as Iterator<Effect<unknown>, T, unknown>, first);
    const self = this;
    const host = this.parent.run(function* (): Operation<void> {
      try {
        yield* scoped(function* () {
          const task: Task<T> = (yield* useScope()).run(function* () {
            self.extras().taskStarted = true;
            // Interrupted before this first turn: halt once the first effect
            // is entered (after this pass of the reducer), as a light routine
            // unwinds the effect it entered inline; halting T before its
            // first turn would leave that effect (a promise, say) unobserved.
            if (self.interrupted) queueMicrotask(() => task.halt().then(undefined, () => {}));
            return yield* rest;
          });
          self.extras().task = task;
          task.then(
            (value) => self.complete(Ok(value)),
            (error) =>
              rest.started ? self.complete(Err(error)) : self.closeUnstarted(rest, error),
          );
          yield* task;
        });
      } catch {
        // T's own outcome (above) settles the routine
      }
    });
    host.then(undefined, (error) => {
      // halted before T existed: the parent scope ended
      if (!self.more?.task) self.closeUnstarted(rest, error);
    });
  }

  /**
   * Fallback mode: T never took its first turn (the parent scope ended
   * first), but the operation's first step already ran inline; return from
   * it so its `finally` blocks run, then settle.
   */
  private closeUnstarted(rest: Continuation<T>, error: unknown): void {
    this.parent
      .run(function* (): Operation<Result<T>> {
        try {
          yield* rest.close();
          return Err(error as Error) as Result<T>;
        } catch (failure) {
          return Err(failure as Error) as Result<T>;
        }
      })
      .then(
        (outcome) => this.complete(outcome),
        (failure) => this.complete(Err(failure)),
      );
  }

  /**
   * The fallback: a real task, in this routine's scope, enters `effect` and
   * runs the rest of the operation; this routine joins it from now on.
   */
  private handOff(effect: Effect<unknown>): void {
    this.epoch++; // whatever the abandoned entry may call back is ignored
    const rest = new Continuation(this.iterator, effect);
    const task = this.scope.run(() => rest);
    this.iterator = join(task);
    this.exit = exitAtOnce;
    this.resumeWith = OK;
    this.schedule();
  }

  /**
   * effection's trap, for children of the lazy scope: while the operation
   * runs, fail by unwinding; while its children are halted, record the
   * failure; once the scope is being destroyed (a task's trap has exited
   * then), the failure belongs to the parent's boundary.
   */
  private raise(error: unknown): void {
    const phase = this.phase;
    if (phase === SETTLED) return;
    if (phase === DISPOSING) {
      this.parent.expect(ErrorBoundary).raise(error);
      return;
    }
    this.extras().raised = { error };
    // every raise unwinds, as effection's Trap.raise does: a second failure
    // while `finally` blocks run cuts those short at their next suspension
    if (phase === BODY) this.unwind();
  }

  /** Moves to disposing the lazy scope (see {@link raise}). */
  disposing(): void {
    this.phase = DISPOSING;
  }

  /** The operation (or, in teardown, the scope's destruction) ended with `result`. */
  finished(result: Result<unknown>): void {
    if (this.phase === BODY) {
      let outcome = result as Result<T>;
      if (!outcome.ok && this.unwinding) {
        // Thrown while an unwind was still pending (a raise or a halt that
        // arrived in a critical section): a task's own wrappers take one more
        // step before its trap sees the throw, and that step returns instead,
        // dropping it. The task ends with the raised failure, or halted.
        this.unwinding = false;
        outcome = OK as Result<T>;
      }
      const more = this.more;
      // the body's own throw wins over a child's failure raised while its
      // children are halted (a task's trap sees it last); a raise does not
      const threw = !outcome.ok;
      if (outcome.ok && more?.raised) outcome = Err(more.raised.error as Error);
      if (more?.dispose === undefined && more?.adopted === undefined) {
        this.complete(outcome);
        return;
      }
      // Halt the children, then destroy the lazy scope before settling, as a
      // task does (critically: a halt arriving now does not cut it short).
      this.phase = TEARDOWN;
      this.critical = true;
      this.unwinding = false;
      this.exit = exitAtOnce;
      this.resumeWith = OK;
      this.iterator = teardown(this, more, outcome, threw);
      this.schedule();
      return;
    }
    if (this.phase === TEARDOWN || this.phase === DISPOSING) {
      this.complete(result.ok ? (result.value as Result<T>) : (result as Result<T>));
    }
  }

  private complete(outcome: Result<T>): void {
    if (this.phase === SETTLED) return;
    this.phase = SETTLED;
    this.iterator = DONE_ITERATOR; // lets the operation's iterator be collected
    // kept only for halt(), and only when it has something to throw (interrupted is final now)
    if (this.interrupted && !outcome.ok && !isHaltError(outcome.error)) {
      this.extras().haltFailure = { error: thrownValue(outcome.error) };
    }
    const more = this.more;
    let waiters: (() => void)[] | undefined;
    if (more !== undefined) {
      more.current = undefined;
      more.dispose = undefined;
      waiters = more.waiters;
      more.waiters = undefined;
    }
    try {
      this.done(outcome);
    } finally {
      if (waiters) for (const wake of waiters) wake();
    }
  }
}

/**
 * Reads `context` in the calling coroutine's scope, as `context.expect()`
 * does, except that a light routine answers from {@link LightRoutine.contextScope}
 * instead of creating a scope of its own for the read (what made every item
 * that called `delay()` cost a scope).
 *
 * @example
 * ```ts
 * const clock = yield* readContext(ClockContext);
 * ```
 */
export function readContext<T>(context: Context<T>): Operation<T> {
  return new ReadContext(context);
}

/**
 * `context`'s value as seen by `routine` (a light routine or a task), read
 * where {@link readContext} reads it: a light routine answers from its
 * {@link LightRoutine.contextScope}, without creating a scope for the read.
 * Throws as `context.expect()` does when the context has no value. For an
 * effect's `enter()`, which is given its coroutine.
 *
 * @example
 * ```ts
 * enter(resolve, routine) {
 *   const clock = expectIn(routine, ClockContext);
 *   // ...
 * }
 * ```
 */
export function expectIn<T>(routine: Coroutine, context: Context<T>): T {
  const scope = routine instanceof LightRoutine ? routine.contextScope : routine.scope;
  return scope.expect(context);
}

/** {@link readContext}: the operation and its effect in one object, resolved while it is entered. */
class ReadContext<T> extends EffectOperation<T> {
  constructor(private readonly context: Context<T>) {
    super();
  }
  get description(): string {
    return `expect(${this.context.name})`;
  }
  enter(
    resolve: (result: Result<T>) => void,
    routine: Coroutine,
  ): (resolve: (result: Result<void>) => void) => void {
    try {
      resolve(Ok(expectIn(routine, this.context)));
    } catch (error) {
      resolve(Err(error as Error));
    }
    return exitAtOnce;
  }
  protected again(): ReadContext<T> {
    return new ReadContext(this.context);
  }
}

/** Thrown by {@link LightRoutine.future} to ask {@link LightRoutine.perform} for a task. */
const NEEDS_TASK = Symbol("bough.light-routine.needs-task");

/** Joins `task`; halts it (waiting for its cleanup) if the joiner is halted first. */
function* join<T>(task: Task<T>): Generator<Effect<unknown>, T, unknown> {
  let settled = false;
  try {
    const value = yield* task;
    settled = true;
    return value;
  } catch (error) {
    settled = true;
    throw error;
  } finally {
    if (!settled) yield* task.halt();
  }
}

/**
 * What a task does after its body: halt the spawned children (newest first;
 * a halt's failure replaces the outcome, and so does the last failure a
 * child raises meanwhile unless the body `threw` its own error, which a
 * task's trap sees last), then destroy the scope (a failure there replaces it too, as an
 * exception in a `finally` does). A routine without a scope closes the
 * children it adopted instead, newest first, as its task's group would halt
 * them (the last failure replaces the outcome).
 */
function* teardown<T>(
  routine: LightRoutine<T>,
  more: RoutineExtras<T>,
  outcome: Result<T>,
  threw: boolean,
): Generator<Effect<unknown>, Result<T>, unknown> {
  const adopted = more.adopted;
  if (adopted !== undefined) {
    more.adopted = undefined;
    let failure: { error: unknown } | undefined;
    for (let i = adopted.length - 1; i >= 0; i--) {
      try {
        yield* (adopted[i] as () => Operation<void>)();
      } catch (error) {
        failure = { error };
      }
    }
    if (failure) outcome = Err(failure.error as Error);
  }
  // read now: a child closed above may have made the scope (to raise into it)
  const group = more.group;
  const dispose = more.dispose;
  if (group && group.tasks.size > 0) {
    routine.raised = undefined;
    try {
      yield* group.halt();
      // set by a child that failed on its own while the others were halted
      const raised = routine.raised as { error: unknown } | undefined;
      if (raised && !threw) outcome = Err(raised.error as Error);
    } catch (error) {
      outcome = Err(error as Error);
    }
  }
  routine.disposing();
  if (dispose === undefined) return outcome;
  try {
    yield* dispose();
  } catch (error) {
    outcome = Err(error as Error);
  }
  return outcome;
}

// --- what effection's reducer sees ---

/**
 * The entry the reducer stepped last. The reducer asks a coroutine's scope
 * for its settle hook right after a step that ended the operation, with no
 * other step in between, so {@link settleStepped} knows whose step it was
 * (one shared function instead of a bound one per routine).
 */
let stepped: Entry | undefined;

/** The settle hook effection's reducer asks a task's scope for: settle the routine just stepped. */
function settleStepped(outcome: { exists: boolean; value?: unknown }): void {
  const entry = stepped;
  stepped = undefined;
  if (entry && outcome.exists) entry.routine.finished(outcome.value as Result<unknown>);
}

/**
 * A light routine as effection's reducer sees it: `data.enqueued`, a `scope`
 * that answers the two contexts the reducer asks for (the priority a task of
 * the parent scope would have, and a settle hook), `step`, `perform` and
 * `settle`. Through it the reducer steps the routine in the same queue, at
 * the same priority and in the same order as it would step the task.
 */
class Entry implements ReducerEntry {
  enqueued = false;
  constructor(
    readonly routine: LightRoutine<any>,
    /** effection's reducer, which steps the routine as it steps a task. */
    readonly reducer: Reducer,
    /** The priority of a task of the parent scope (the routine's own scope, if it makes one, has it too). */
    readonly priority: number,
  ) {}
  get data(): this {
    return this;
  }
  get scope(): this {
    return this;
  }
  expect(context: { name: string }): unknown {
    if (context.name !== PRIORITY_CONTEXT) return settleStepped;
    // as a task's: its current scope's (deeper inside `scoped()`), without creating one
    const scope = this.routine.currentScope;
    return scope ? priorityOf(scope) : this.priority;
  }
  step(): IteratorResult<unknown, unknown> {
    stepped = this;
    return this.routine.step();
  }
  perform(effect: unknown): void {
    this.routine.perform(effect as Effect<unknown>);
  }
  /** Part of the shape; the reducer settles through {@link settleStepped}. */
  settle(outcome: { exists: boolean; value?: unknown }): void {
    if (outcome.exists) this.routine.finished(outcome.value as Result<unknown>);
  }
}
