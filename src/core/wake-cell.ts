import { action, type Effect, type Operation, type Result } from "effection";
import { DONE } from "./done.js";
import { OK } from "./effect-operation.js";
import { lightRoutines } from "./effection-internals.js";

/**
 * When a {@link WakeCell} wakes its waiters after {@link WakeCell.signal}: at
 * once, in a microtask (once per synchronous burst), or on the next turn of
 * the event loop (once per batch of I/O callbacks, e.g. every datagram a
 * socket read in one turn).
 */
export type WakeTiming = "now" | "microtask" | "turn";

/**
 * A wake-up cell: operations wait on it until something signals. A signal
 * with nobody waiting is kept, so the next {@link wait} returns at once
 * without suspending (the fast path). A waiter must then look at the state it
 * waits for and wait again if it is not there yet: a wake-up says "look",
 * not "it is there" (a kept signal may be stale). That makes every consumer
 * the same loop:
 *
 * ```ts
 * while (queue.length === 0 && !closed) yield* cell.wait();
 * ```
 *
 * Every waiter wakes on a signal. With `timing: "microtask"`, the signals of
 * one synchronous burst (many promises settling in one tick, a broadcast of
 * many messages) wake the waiters once, in a microtask, instead of once per
 * signal. With `timing: "turn"`, they wake once per turn of the event loop
 * (`setImmediate`), after every I/O callback of the turn ran: a socket that
 * emits one event per datagram wakes its reader once per turn, not once per
 * datagram.
 *
 * This is the one "wait until woken" mechanism of bough: the selector's
 * `select()`, `poll()`'s kicks, a WebSocket's reader and its backpressure,
 * are each a wake cell and their own state.
 *
 * @example
 * ```ts
 * const inbox: string[] = [];
 * const cell = createWakeCell();
 * socket.on("message", (m) => { inbox.push(m); cell.signal(); });
 * for (;;) {
 *   while (inbox.length === 0) yield* cell.wait();
 *   console.log(inbox.shift());
 * }
 * ```
 */
export class WakeCell implements Effect<void> {
  /** A signal arrived while nobody waited; the next wait() consumes it. */
  signalled = false;
  /** How many times a wait() suspended (the fast path does not count). */
  waits = 0;
  /**
   * The first waiter, kept without a list: the common case is one reader,
   * and an idle reader's list (an array grown to 17 slots by its first
   * push) was the largest thing an idle SSE connection's cell kept.
   */
  private waiter: Waiter | undefined = undefined;
  /** The waiters after the first, in order; made when two wait at once. */
  private others: Waiter[] | undefined = undefined;
  private scheduled = false;
  /** `flush` bound to this cell, made the first time a deferred wake is scheduled. */
  private flushLater: (() => void) | undefined = undefined;
  /** The operation a suspending wait returns, made on the first one. */
  private op: Operation<void> | undefined = undefined;

  // One object per cell, with no closures made up front: a hub subscription
  // or an SSE connection holds a queue with two cells, and with thousands of
  // them every object counts (memory, and the cache lines a fan-out touches).
  constructor(private readonly timing: WakeTiming = "now") {}

  /** How many operations are waiting now. */
  get waiting(): number {
    return (
      (this.waiter === undefined ? 0 : 1) + (this.others === undefined ? 0 : this.others.length)
    );
  }

  /** Wakes every waiter (now, or in a microtask), or, if none waits, keeps the signal. */
  signal(): void {
    if (this.waiting === 0) {
      this.signalled = true;
      return;
    }
    if (this.timing === "now") this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      const later = (this.flushLater ??= () => this.flush());
      if (this.timing === "microtask") queueMicrotask(later);
      else setImmediate(later);
    }
  }

  /** Waits for the next signal; returns at once, consuming it, if one was kept. */
  wait(): Operation<void> {
    if (this.signalled) {
      this.signalled = false;
      return DONE;
    }
    return this.suspend();
  }

  /** Waits for the next signal, ignoring (and dropping) one that was kept. */
  next(): Operation<void> {
    this.signalled = false;
    return this.suspend();
  }

  private suspend(): Operation<void> {
    if (lightRoutines) return (this.op ??= new WaitOp(this));
    // an effection whose internals failed the self-check: only its documented API
    return action<void>((resolve) => {
      const wake = () => resolve();
      this.waits++;
      this.add(wake);
      return () => this.forget(wake);
    });
  }

  /*
   * The wait is effection's effect shape (enter, then exit) written by hand
   * rather than `action()`, and the cell is that effect: one wait allocates
   * one small iterator and its exit, where
   * `action()` allocates its closures and wrappers each time. The hub waits
   * here once per drained batch, and `action()` cost it 30-45% of its
   * delivery rate (bench hub, fan-out rows).
   */

  /** @internal effection's effect description. */
  get description(): string {
    return "wake cell: wait for a signal";
  }

  /** @internal effection enters the effect: the waiter is kept until a signal. */
  enter(
    resolve: (result: Result<void>) => void,
  ): (didExit: (result: Result<void>) => void) => void {
    this.waits++;
    this.add(resolve);
    return (didExit) => {
      // a waiter that was halted, or already woken (flush emptied the list)
      this.forget(resolve);
      didExit(OK);
    };
  }

  /** Adds a waiter after those already waiting (in the slot when nobody waits). */
  private add(waiter: Waiter): void {
    const others = this.others;
    if (this.waiter === undefined && (others === undefined || others.length === 0)) {
      this.waiter = waiter;
    } else {
      (this.others ??= []).push(waiter);
    }
  }

  private forget(waiter: Waiter): void {
    if (this.waiter === waiter) {
      this.waiter = undefined;
      return;
    }
    const others = this.others;
    if (others === undefined) return;
    const i = others.indexOf(waiter);
    if (i >= 0) others.splice(i, 1);
  }

  private flush(): void {
    this.scheduled = false;
    const first = this.waiter;
    const others = this.others;
    if (first === undefined && (others === undefined || others.length === 0)) return;
    this.signalled = false;
    // a re-wait during a wake() lands in the emptied slot: woken by the next signal, not this one
    this.waiter = undefined;
    if (others === undefined || others.length === 0) {
      (first as Waiter)(OK);
      return;
    }
    this.others = undefined;
    first?.(OK);
    for (const wake of others) wake(OK);
  }
}

type Waiter = (result: Result<void>) => void;

/** A cell's suspending wait: one object per cell, no closure (see the constructor's note). */
class WaitOp implements Operation<void> {
  constructor(private readonly effect: Effect<void>) {}
  [Symbol.iterator](): Iterator<Effect<void>, void, unknown> {
    return new YieldOnce(this.effect);
  }
}

/** Yields one effect, then returns what it resolved with. */
class YieldOnce implements Iterator<Effect<void>, void, unknown> {
  private yielded = false;

  constructor(private readonly effect: Effect<void>) {}

  next(): IteratorResult<Effect<void>, void> {
    if (this.yielded) return { done: true, value: undefined };
    this.yielded = true;
    return { done: false, value: this.effect };
  }
}

/**
 * Creates a {@link WakeCell}.
 *
 * @example
 * ```ts
 * const changed = createWakeCell("microtask");
 * // producers: items.push(x); changed.signal();
 * while (items.length === 0) yield* changed.wait();
 * ```
 */
export function createWakeCell(timing: WakeTiming = "now"): WakeCell {
  return new WakeCell(timing);
}
