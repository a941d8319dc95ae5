import type { Counters } from "./counters.js";

/** The recent history of every numeric counter, as {@link createCounterSeries} keeps it. */
export interface CounterSeries {
  /** Records the current value of every numeric counter (call it at a steady pace). */
  sample(): void;
  /** Each numeric counter's last samples, oldest first (at most `samples` each). */
  get(): Record<string, number[]>;
  /** How many samples each series keeps. */
  readonly capacity: number;
}

/** Options of {@link createCounterSeries}. */
export interface CounterSeriesOptions {
  /** Samples kept per counter (default 60: one minute at one sample a second). */
  samples?: number;
}

/**
 * Keeps the last `samples` values of every numeric counter of `counters`, so
 * that the inspector can draw each as a sparkline. A counter that holds a
 * string (a fact such as `lastError`) has no series. Sampling is the caller's
 * pace (`useInspector` samples once a second); each sample costs one pass over
 * the counters.
 *
 * @example
 * ```ts
 * const counters = createCounters();
 * const series = createCounterSeries(counters, { samples: 3 });
 * for (const n of [1, 2, 3, 4]) {
 *   counters.set("queued", n);
 *   series.sample();
 * }
 * series.get(); // { queued: [2, 3, 4] }
 * ```
 */
export function createCounterSeries(
  counters: Counters,
  options: CounterSeriesOptions = {},
): CounterSeries {
  const capacity = options.samples ?? 60;
  if (!Number.isInteger(capacity) || capacity < 1) {
    throw new TypeError(`createCounterSeries: samples must be an integer >= 1, got ${capacity}`);
  }
  const series = new Map<string, number[]>();
  return {
    capacity,
    sample() {
      for (const [name, value] of Object.entries(counters.get())) {
        if (typeof value !== "number") continue;
        let values = series.get(name);
        if (values === undefined) series.set(name, (values = []));
        values.push(value);
        if (values.length > capacity) values.shift();
      }
    },
    get() {
      const out: Record<string, number[]> = {};
      for (const [name, values] of series) out[name] = values.slice();
      return out;
    },
  };
}
