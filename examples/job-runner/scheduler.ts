/**
 * The scheduler: one task, owned by the runner (and so by `main()`), that runs
 * at most `concurrency` jobs at a time, first come first served. Each running
 * job is an item of one selector, a child of the scheduler's scope: halting
 * an item halts that job (and waits for its cleanup), halting the scheduler
 * halts them all.
 */
import { action, type Operation, race, resource, spawn } from "effection";
import {
  label,
  type Selector,
  SelectorEmptyError,
  type SelectorItem,
  useSelector,
} from "../../src/index.js";

/** Options of {@link useScheduler}. */
export interface SchedulerOptions {
  /** The most jobs running at once. */
  concurrency: number;
  /** Takes the next job to run (first come, first served), or `undefined` if none waits. */
  take(): number | undefined;
  /** Runs one job to its end. It must not throw: a job records its own failure. */
  run(id: number): Operation<void>;
}

/** The scheduler, as provided by {@link useScheduler}. */
export interface Scheduler {
  /** Tells the scheduler that a job was queued. */
  notify(): void;
  /** Halts a running job and waits until its cleanup is over; false if it was not running. */
  halt(id: number): Operation<boolean>;
  /** The ids of the jobs running now. */
  running(): number[];
  /** The most jobs that ever ran at once. */
  readonly peak: number;
}

/** Collects finished items; a selector emptied by a halt is not an error here. */
function* collect(selector: Selector<void, number>): Operation<void> {
  try {
    yield* selector.select();
  } catch (error) {
    if (!(error instanceof SelectorEmptyError)) throw error;
  }
}

/**
 * Starts the scheduler for the calling scope.
 *
 * @example
 * ```ts
 * const queue: number[] = [];
 * const scheduler = yield* useScheduler({
 *   concurrency: 3,
 *   take: () => queue.shift(),
 *   run: function* (id) { yield* delay(1000); console.log(`job ${id} done`); },
 * });
 * queue.push(1, 2, 3, 4);
 * scheduler.notify(); // 1, 2 and 3 start; 4 starts when one of them ends
 * ```
 */
export function useScheduler(options: SchedulerOptions): Operation<Scheduler> {
  const { concurrency, take, run } = options;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`concurrency must be an integer >= 1, got ${concurrency}`);
  }
  return resource(function* (provide) {
    /** Running jobs; the item is undefined while `add()` runs the job's first step. */
    const items = new Map<number, SelectorItem | undefined>();
    let peak = 0;
    let dirty = false;
    let wake: (() => void) | undefined;
    const notify = () => {
      dirty = true;
      const resolve = wake;
      wake = undefined;
      resolve?.();
    };
    const woken = () =>
      action<void>((resolve) => {
        if (dirty) resolve();
        else wake = resolve;
        return () => {
          if (wake === resolve) wake = undefined;
        };
      });

    function* item(id: number): Operation<void> {
      try {
        yield* run(id);
      } finally {
        items.delete(id);
        notify();
      }
    }

    yield* spawn(function* () {
      yield* label("scheduler");
      const selector = yield* useSelector<void, number>();
      for (;;) {
        dirty = false;
        while (items.size < concurrency) {
          const id = take();
          if (id === undefined) break;
          items.set(id, undefined);
          peak = Math.max(peak, items.size);
          const handle = selector.add(id, item(id));
          if (items.has(id)) items.set(id, handle);
        }
        if (dirty) continue;
        // a job ending reaches us both ways; select() also collects finished items
        if (selector.size > 0) yield* race([collect(selector), woken()]);
        else yield* woken();
      }
    });

    yield* provide({
      notify,
      *halt(id) {
        const handle = items.get(id);
        if (handle === undefined) return false;
        yield* handle.halt();
        return true;
      },
      running: () => [...items.keys()],
      get peak() {
        return peak;
      },
    });
  });
}
