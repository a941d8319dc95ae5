/** A value a {@link Counters} entry may hold: a count, or a short fact such as the last error. */
export type CounterValue = number | string | boolean | null;

/** Named values an app updates as it works, shown by the inspector. */
export interface Counters {
  /** Adds `n` (default 1) to the number `name`, which starts at 0. */
  inc(name: string, n?: number): number;
  /** Sets `name` to `value`: a number, or a fact such as `"lastError"`. */
  set(name: string, value: CounterValue): void;
  /** A plain copy of every entry, in the order they were first set. */
  get(): Record<string, CounterValue>;
}

/**
 * Creates a set of named counters: the variables a daemon keeps so that its
 * status page can say what it did ("iterations: 42", "last error: …").
 * `inc` on an entry that holds something other than a number, or with an `n`
 * that is not a finite number, throws a `TypeError`.
 *
 * @example
 * ```ts
 * const counters = createCounters();
 * counters.inc("iterations");
 * counters.inc("rowsProcessed", 3);
 * counters.set("lastError", "row 7: mail server refused");
 * counters.get(); // { iterations: 1, rowsProcessed: 3, lastError: "row 7: mail server refused" }
 * ```
 */
export function createCounters(): Counters {
  const values = new Map<string, CounterValue>();
  return {
    inc(name, n = 1) {
      if (typeof n !== "number" || !Number.isFinite(n)) {
        throw new TypeError(`counters.inc: n must be a finite number, got ${String(n)}`);
      }
      const current = values.get(name) ?? 0;
      if (typeof current !== "number") {
        throw new TypeError(
          `counters.inc: "${name}" holds ${JSON.stringify(current)}, not a number`,
        );
      }
      const next = current + n;
      values.set(name, next);
      return next;
    },
    set(name, value) {
      values.set(name, value);
    },
    get() {
      return Object.fromEntries(values);
    },
  };
}
