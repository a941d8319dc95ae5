import { action, type Effect, type Operation, type Result, type Scope } from "effection";
import { isHaltError, lightRoutines, thrownValue } from "./effection-internals.js";
import { LightRoutine } from "./light-routine.js";

/**
 * How a {@link RoutineGroup} tells its owner that a member ended. Each member
 * carries two tags given to {@link RoutineGroup.start}, `data` and `extra`
 * (two, so that neither the selector, with its item data and generator slot,
 * nor the server, with its request and whether it replies, allocates a record
 * per member). Exactly one of these is called per started operation.
 */
export interface RoutineReports<T, D, E> {
  /** The operation returned `value` without being halted. */
  returned(data: D, extra: E, value: T): void;
  /**
   * The operation threw `error` (the value thrown, not a wrapper). With
   * `halted`, it was being halted: its cleanup failed (the member's `halt()`
   * throws the same error).
   */
  failed(data: D, extra: E, error: unknown, halted: boolean): void;
  /** It was halted and its cleanup succeeded. */
  halted(data: D, extra: E): void;
  /**
   * Optional: ends the group as its owner does (halting every member, newest
   * first). Called when the scope members run under is destroyed by its own
   * parent before the owner closed the group (a `scoped()` body's end
   * destroys the scopes made in it, newest first, without halting whoever
   * made them): a member's own scope would go first, out of order. Must be
   * safe to call more than once (later calls wait for the first).
   */
  close?(): Operation<void>;
}

/** A handle to one member of a {@link RoutineGroup} that suspended. */
export interface RoutineMember<D> {
  /** The `data` it was started with. */
  readonly key: D;
  /** Starts halting it without waiting (a no-op once it settled). */
  interrupt(): void;
  /** Halts it and waits for its cleanup; throws what its cleanup threw. */
  halt(): Operation<void>;
}

/**
 * Runs operations the cheap way bough runs selector items and HTTP handlers:
 * each operation's first step runs inline in {@link start} (one that returns
 * or throws without suspending costs no scheduling at all); one that suspends
 * continues as a light routine under the group's scope (a few µs, no
 * effection task; see `light-routine.ts`). Every outcome is reported to the
 * owner; {@link close} halts every member still running and waits for their
 * cleanup, so nothing outlives the owner.
 *
 * With light routines off (effection's internals failed bough's self-check,
 * or `BOUGH_LIGHT_ROUTINES=off`), the rest of an operation that suspended runs
 * as an effection task instead (see `light-routine.ts`).
 *
 * This is the mechanism under `useSelector` and `useServer`; an adapter that
 * runs many short-lived operations for one owner builds on it the same way.
 *
 * @example
 * ```ts
 * const scope = yield* useScope();
 * const group = new RoutineGroup<number, string, undefined>(scope, {
 *   returned: (name, _, value) => console.log(name, "returned", value),
 *   failed: (name, _, error) => console.error(name, "failed", error),
 *   halted: (name) => console.log(name, "halted"),
 * });
 * group.start("nap", undefined, function* () { yield* sleep(10); return 1; }());
 * try {
 *   yield* group.whenEmpty();
 * } finally {
 *   yield* group.close();
 * }
 * ```
 */
export class RoutineGroup<T, D, E> {
  /** How many members suspended and have not settled. */
  size = 0;
  /** The newest live member (they form a list: cheaper than a Set). */
  private live: Member<T, D, E> | undefined;
  private emptied: (() => void)[] | undefined;
  /** While {@link close} runs: the members it halts in turn, and what wakes it. */
  private closing: Closing<T, D, E> | undefined;

  /**
   * What members run under: the scope given to the constructor, or (set by
   * {@link underRoutine}) a light routine that has no scope.
   */
  private under: Scope | LightRoutine<unknown>;

  constructor(
    scope: Scope,
    readonly reports: RoutineReports<T, D, E>,
  ) {
    this.under = scope;
  }

  /**
   * A group whose members run as children of `owner`, a light routine that
   * has no scope, as they would in the scope it would make: they see its
   * contexts and run at its children's priority without that scope being
   * made, and anything that needs the scope (a member making its own, a
   * failure raised while it disposes) makes it then. Costs nothing per group
   * where a scope costs ~5 KB and its teardown. @internal
   */
  static underRoutine<T, D, E>(
    owner: LightRoutine<unknown>,
    reports: RoutineReports<T, D, E>,
  ): RoutineGroup<T, D, E> {
    const group = new RoutineGroup<T, D, E>(owner.contextScope, reports);
    group.under = owner;
    return group;
  }

  /**
   * Runs `op` tagged with `data` and `extra`. Returns its member if it
   * suspended, or `undefined` if it already ended (and was reported).
   */
  start(data: D, extra: E, op: Operation<T>): RoutineMember<D> | undefined {
    const iterator = op[Symbol.iterator]();
    let first: IteratorResult<Effect<unknown>, T>;
    try {
      first = iterator.next();
    } catch (error) {
      this.reports.failed(data, extra, error, false);
      return undefined;
    }
    if (first.done) {
      this.reports.returned(data, extra, first.value);
      return undefined;
    }
    const member = this.link(new Member(this, data, extra, iterator));
    member.start(first.value);
    return member;
  }

  /** Calls `fn` for each live member, newest first. */
  forEach(fn: (member: RoutineMember<D>) => void): void {
    for (let member = this.live; member; member = member.after) fn(member);
  }

  /**
   * Halts every live member and waits for their cleanup: newest first, each
   * once the one before it has finished its cleanup, as effection halts a
   * scope's tasks. If cleanups threw, the last of those errors (the oldest
   * failing member's) is thrown after all have settled, as a scope does.
   */
  *close(): Operation<void> {
    const live: Member<T, D, E>[] = [];
    for (let member = this.live; member; member = member.after) live.push(member);
    if (!lightRoutines) {
      // fallback mode: each member is a task; its halt() reports its cleanup's failure
      yield* haltEach(live);
      return;
    }
    // Not a halt() and its wait per member: the member that settles
    // interrupts the next one itself (see advance), and only the last one
    // wakes this. A member whose cleanup does not suspend settles in the same
    // scheduler pass, so closing a large tree stays one wait.
    const closing: Closing<T, D, E> = { members: live, next: 0, busy: false, wake: undefined };
    this.closing = closing;
    try {
      this.advance(closing);
      if (closing.next < live.length) {
        yield* action<void>((resolve) => {
          if (closing.next >= live.length) resolve();
          else closing.wake = resolve;
          return () => {
            closing.wake = undefined;
          };
        });
      }
    } finally {
      if (this.closing === closing) this.closing = undefined;
      // close() itself halted before every member settled: interrupt the rest
      // now (a no-op for those already interrupted), so that none outlives it
      for (let i = closing.next; i < live.length; i++) live[i]?.interrupt();
    }
    let failure: { error: unknown } | undefined;
    for (const member of live) failure = member.haltFailure ?? failure;
    if (failure) throw failure.error;
  }

  /**
   * Interrupts the next member of `closing` that has not settled; once every
   * one has, wakes {@link close}. Called again whenever a member settles.
   */
  private advance(closing: Closing<T, D, E>): void {
    if (closing.busy) return; // a member settled inside interrupt(): the loop below goes on
    closing.busy = true;
    try {
      const { members } = closing;
      while (closing.next < members.length) {
        const member = members[closing.next] as Member<T, D, E>;
        if (!member.settled) {
          member.interrupt();
          if (!member.settled) return;
        }
        closing.next++;
      }
    } finally {
      closing.busy = false;
    }
    closing.wake?.();
  }

  /** Waits until no member is live (at once if none is). */
  whenEmpty(): Operation<void> {
    return action<void>((resolve) => {
      if (this.size === 0) {
        resolve();
        return () => {};
      }
      const emptied = (this.emptied ??= []);
      emptied.push(resolve);
      return () => {
        const i = emptied.indexOf(resolve);
        if (i >= 0) emptied.splice(i, 1);
      };
    });
  }

  private link(member: Member<T, D, E>): Member<T, D, E> {
    this.size++;
    const head = this.live;
    if (head) {
      member.after = head;
      head.before = member;
    }
    this.live = member;
    return member;
  }

  /** @internal a member settled: unlink it, report it, and wake `whenEmpty()` waiters if it was the last. */
  settled(member: Member<T, D, E>, outcome: Result<T>): void {
    this.size--;
    const { before, after } = member;
    if (before) before.after = after;
    else this.live = after;
    if (after) after.before = before;
    member.before = member.after = undefined;
    try {
      const { key: data, extra } = member;
      if (member.interrupted && (outcome.ok || isHaltError(outcome.error))) {
        this.reports.halted(data, extra);
      } else if (outcome.ok) {
        this.reports.returned(data, extra, outcome.value);
      } else {
        this.reports.failed(data, extra, thrownValue(outcome.error), member.interrupted);
      }
    } finally {
      const closing = this.closing;
      if (closing !== undefined) this.advance(closing);
      if (this.size === 0 && this.emptied) {
        const emptied = this.emptied;
        this.emptied = undefined;
        for (const wake of emptied) wake();
      }
    }
  }

  /** @internal the scope members run under (an owner routine's, made if it has none yet). */
  get parent(): Scope {
    const under = this.under;
    return under instanceof LightRoutine ? under.scope : under;
  }

  /** @internal the scope whose contexts members see, without making one. */
  get contextParent(): Scope {
    const under = this.under;
    return under instanceof LightRoutine ? under.contextScope : under;
  }

  /** @internal what members are scheduled as children of (see LightRoutine.schedulingParent). */
  get schedulingParent(): Scope | LightRoutine<unknown> {
    return this.under;
  }
}

/** A {@link RoutineGroup.close} under way. */
interface Closing<T, D, E> {
  /** The members live when it began, newest first. */
  members: Member<T, D, E>[];
  /** The index of the member being halted. */
  next: number;
  /** Whether `advance()` is on the stack. */
  busy: boolean;
  /** Resumes `close()` once every member has settled. */
  wake: (() => void) | undefined;
}

/** Halts each member in turn; throws the last failure once all have settled, as a scope does. */
function* haltEach(members: RoutineMember<unknown>[]): Operation<void> {
  let failure: { error: unknown } | undefined;
  let next = 0;
  try {
    for (; next < members.length; next++) {
      try {
        yield* (members[next] as RoutineMember<unknown>).halt();
      } catch (error) {
        failure = { error };
      }
    }
  } finally {
    // halted itself before the end: interrupt the rest now, so that none outlives it
    for (let i = next + 1; i < members.length; i++) members[i]?.interrupt();
  }
  if (failure) throw failure.error;
}

/** A member that suspended: a light routine that reports to its group. */
class Member<T, D, E> extends LightRoutine<T> implements RoutineMember<D> {
  before: Member<T, D, E> | undefined;
  after: Member<T, D, E> | undefined;

  constructor(
    private owner: RoutineGroup<T, D, E>,
    readonly key: D,
    readonly extra: E,
    iterator: Iterator<Effect<unknown>, T, unknown>,
  ) {
    super(iterator);
  }

  protected get parent(): Scope {
    return this.owner.parent;
  }

  protected override get contextParent(): Scope {
    return this.owner.contextParent;
  }

  protected override get schedulingParent(): Scope | LightRoutine<unknown> {
    return this.owner.schedulingParent;
  }

  protected done(outcome: Result<T>): void {
    this.owner.settled(this, outcome);
  }

  /** Its scope is destroyed from outside: the group ends in order, this member with it. */
  protected override *endedFromOutside(): Operation<void> {
    const { reports } = this.owner;
    if (reports.close) {
      try {
        yield* reports.close();
      } catch {
        // the owner reports its close's failure where it closes the group itself
      }
    }
    yield* super.endedFromOutside();
  }
}
