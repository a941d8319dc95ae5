import type { Operation, Scope } from "effection";
import type { Clock } from "../core/clock.js";

interface Deadline {
  at: number;
  fn: (() => void) | undefined;
}

interface DeadlineQueue {
  entries: (Deadline | undefined)[];
  head: number;
}

/**
 * Shared timers for many connections: one task per distinct period (for
 * heartbeats) and one task per distinct delay (for long-poll timeouts), instead
 * of one task and one timer per connection. Entries of one delay expire in the
 * order they were added, so each delay's queue is a plain FIFO.
 *
 * All time comes from the given clock, so a virtual clock drives them in tests.
 */
export interface Timers {
  /** Calls `fn` every `ms` milliseconds until the returned function is called. */
  every(ms: number, fn: () => void): () => void;
  /** Calls `fn` once after `ms` milliseconds unless the returned function is called first. */
  after(ms: number, fn: () => void): () => void;
}

/**
 * Creates the shared timers of a server: their tasks run in `scope` and stop
 * when it ends, or as soon as they have nothing left to do.
 *
 * @example
 * ```ts
 * const scope = yield* useScope();
 * const timers = createTimers(scope, yield* useClock());
 * const stop = timers.every(15_000, () => sendHeartbeats());
 * const cancel = timers.after(30_000, () => answer204());
 * ```
 */
export function createTimers(scope: Scope, clock: Clock): Timers {
  const periodic = new Map<number, Set<() => void>>();
  const delayed = new Map<number, DeadlineQueue>();

  function* tick(ms: number, group: Set<() => void>): Operation<void> {
    for (;;) {
      yield* clock.sleep(ms);
      if (group.size === 0) {
        periodic.delete(ms);
        return;
      }
      for (const fn of [...group]) call(fn);
    }
  }

  function* expire(ms: number, queue: DeadlineQueue): Operation<void> {
    for (;;) {
      let entry = queue.entries[queue.head];
      while (entry !== undefined && entry.fn === undefined) {
        queue.entries[queue.head++] = undefined;
        entry = queue.entries[queue.head];
      }
      if (entry === undefined) {
        delayed.delete(ms);
        return;
      }
      yield* clock.sleepUntil(entry.at);
      const now = clock.now();
      for (;;) {
        const next = queue.entries[queue.head];
        if (next === undefined || (next.fn !== undefined && next.at > now)) break;
        queue.entries[queue.head++] = undefined;
        const fn = next.fn;
        next.fn = undefined;
        if (fn) call(fn);
      }
      if (queue.head > 1024 && queue.head * 2 > queue.entries.length) {
        queue.entries = queue.entries.slice(queue.head);
        queue.head = 0;
      }
    }
  }

  return {
    every(ms, fn) {
      let group = periodic.get(ms);
      if (group === undefined) {
        const created = new Set<() => void>();
        periodic.set(ms, created);
        scope.run(() => tick(ms, created));
        group = created;
      }
      group.add(fn);
      const owner = group;
      return () => {
        owner.delete(fn);
      };
    },
    after(ms, fn) {
      const entry: Deadline = { at: clock.now() + ms, fn };
      let queue = delayed.get(ms);
      if (queue === undefined) {
        const created: DeadlineQueue = { entries: [entry], head: 0 };
        delayed.set(ms, created);
        scope.run(() => expire(ms, created));
        queue = created;
      } else {
        queue.entries.push(entry);
      }
      return () => {
        entry.fn = undefined;
      };
    },
  };
}

function call(fn: () => void) {
  try {
    fn();
  } catch {
    // a timer callback must not take the server down; callers handle their own errors
  }
}
