import { type Scope, type Task, until } from "effection";
import type { Clock } from "../core/clock.js";
import { createMinHeap } from "../core/min-heap.js";

/** One scheduled deadline; cancel it with {@link Deadlines.cancel}. */
export interface Deadline {
  readonly at: number;
  fire: (() => void) | undefined;
}

/**
 * Many deadlines on one clock for the price of one task: a heap of deadlines
 * and a single sleeper task (in `scope`) that sleeps until the earliest one.
 * Adding a deadline costs a heap push; cancelling is O(1) (lazy deletion with
 * compaction). The sleeper is re-armed only when a new deadline is earlier
 * than the one it sleeps for, which for equal timeouts is almost never.
 * This keeps a per-call timeout off the pool's hot path (an effection task per
 * call would cost ~40 µs).
 *
 * @example
 * ```ts
 * const deadlines = createDeadlines(scope, clock);
 * const d = deadlines.add(clock.now() + 5_000, () => console.log("too late"));
 * deadlines.cancel(d); // finished in time
 * ```
 */
export function createDeadlines(scope: Scope, clock: Clock): Deadlines {
  return new Deadlines(scope, clock);
}

export class Deadlines {
  private heap = createMinHeap<Deadline>(byTime);
  private live = 0;
  private armedAt = Number.POSITIVE_INFINITY;
  private armed: Task<void> | undefined;
  private closed = false;
  private generation = 0;

  constructor(
    private readonly scope: Scope,
    private readonly clock: Clock,
  ) {}

  /** Schedules `fire` at `at` (clock time). */
  add(at: number, fire: () => void): Deadline {
    const deadline: Deadline = { at, fire };
    this.heap.push(deadline);
    this.live++;
    if (at < this.armedAt) this.arm();
    return deadline;
  }

  /** Cancels a deadline that has not fired. */
  cancel(deadline: Deadline | undefined): void {
    if (deadline?.fire === undefined) return;
    deadline.fire = undefined;
    this.live--;
    if (this.heap.size > 256 && this.live * 4 < this.heap.size) this.compact();
  }

  /** Stops the sleeper; no deadline fires after this. */
  close(): void {
    this.closed = true;
    this.heap.clear();
    this.live = 0;
    this.disarm();
  }

  private disarm(): void {
    this.generation++;
    const armed = this.armed;
    this.armed = undefined;
    this.armedAt = Number.POSITIVE_INFINITY;
    armed?.halt().then(undefined, () => {});
  }

  private arm(): void {
    if (this.closed) return;
    this.disarm();
    const next = this.peek();
    if (!next) return;
    const at = next.at;
    this.armedAt = at;
    const self = this;
    const token = ++this.generation;
    const task = this.scope.run(function* () {
      // A task may start synchronously inside scope.run() (from a light routine when
      // effection's reducer is idle): never fire inside add(), whose caller has not
      // finished registering the deadline's owner yet.
      if (at <= self.clock.now()) yield* until(Promise.resolve());
      yield* self.clock.sleepUntil(at);
      if (self.generation !== token) return;
      self.armed = undefined;
      self.armedAt = Number.POSITIVE_INFINITY;
      self.fireDue();
    });
    if (this.generation === token && this.armedAt === at) this.armed = task;
  }

  private fireDue(): void {
    const now = this.clock.now();
    for (;;) {
      const top = this.peek();
      if (!top || top.at > now) break;
      this.heap.pop();
      const fire = top.fire!;
      top.fire = undefined;
      this.live--;
      fire();
    }
    if (!this.armed) this.arm();
  }

  private peek(): Deadline | undefined {
    const heap = this.heap;
    while (heap.size > 0 && heap.peek()?.fire === undefined) heap.pop();
    return heap.peek();
  }

  private compact(): void {
    this.heap.retain((d) => d.fire !== undefined);
  }
}

const byTime = (a: Deadline, b: Deadline) => a.at < b.at;
