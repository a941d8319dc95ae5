import type { Operation, Stream, Subscription } from "effection";
import { type Clock, useClock } from "../core/clock.js";
import { usePanel } from "../core/panels.js";
import { checkInterval, show } from "./errors.js";

/** One tick of a {@link ticker}. */
export interface Tick {
  /**
   * The tick's place on the grid, counted from 1: `scheduledAt` is
   * `start + n · interval`. Ticks dropped by the `"skip"` or `"burst"` policy
   * leave gaps in `n`; under `"delay"` the grid's `start` moves when a tick is
   * late, so `n` keeps counting without gaps.
   */
  n: number;
  /** When the tick was due, on the clock's timeline. */
  scheduledAt: number;
  /** When the tick was handed to the consumer (`clock.now()` then). */
  firedAt: number;
  /** How many ticks right before this one were missed and dropped (0 if none). */
  skipped: number;
}

/**
 * What a ticker does when its consumer asks for the next tick late, after one
 * or more ticks fell due:
 * - `"skip"`: deliver the latest due tick at once and drop the older ones
 *   (`skipped` counts them); the grid stays where it was.
 * - `"burst"`: deliver every due tick, one per `next()`, without waiting, but at
 *   most `maxBurst` of them: older ones beyond that are dropped and counted in
 *   `skipped`. The grid stays where it was.
 * - `"delay"`: deliver the overdue tick at once and shift the grid so that the
 *   next tick falls one full interval later; nothing is dropped, two ticks are
 *   never closer than `intervalMs`.
 */
export type MissedTickPolicy = "skip" | "burst" | "delay";

/** Options of {@link ticker}. */
export interface TickerOptions {
  /** Milliseconds between ticks; a finite number above 0. */
  intervalMs: number;
  /** The {@link MissedTickPolicy}. Default `"skip"`. */
  missed?: MissedTickPolicy;
  /**
   * Put the ticks on multiples of `intervalMs` on the clock's timeline instead of
   * counting from the moment of subscription. `true` aligns to 0; a number
   * `phase` puts the ticks at `phase + k · interval`. The real clock's timeline
   * is `performance.now()`, so `align: -performance.timeOrigin` puts the ticks
   * on wall-clock multiples (every full second for `intervalMs: 1000`).
   * Default `false`.
   */
  align?: boolean | number;
  /**
   * Under `"burst"`, how many due ticks are delivered back to back at most;
   * older ones are dropped. An integer ≥ 1. Default 10.
   */
  maxBurst?: number;
}

const POLICIES: readonly MissedTickPolicy[] = ["skip", "burst", "delay"];

/**
 * A stream of ticks every `intervalMs` milliseconds on the clock in context,
 * scheduled on a fixed grid (`start + n · interval`) and never re-armed from
 * the previous tick, so lateness never accumulates into drift.
 *
 * Each subscription has its own grid, starting when it subscribes (or aligned,
 * see {@link TickerOptions.align}). The ticker is pulled: a tick is waited for
 * only while the consumer is in `next()`, so a ticker costs nothing between
 * ticks, keeps no timer while the consumer works, and halting the consumer
 * mid-wait leaves no timer behind. A consumer slower than the interval gets the
 * {@link MissedTickPolicy} of its choice, never a backlog.
 *
 * While a subscription lives, the inspector (`bough/inspect`) shows it as a
 * `source` panel named `ticker every <interval> ms`: `intervalMs`, `missed`
 * (the policy), `ticks` delivered, `missedTicks` (ticks dropped by `"skip"` or
 * `"burst"`) and `delayed` (times `"delay"` shifted the grid). Counting costs
 * a field increment per tick; the panel is read only when somebody looks.
 *
 * Invalid options (an interval that is not a finite number above 0, an unknown
 * policy, a bad `maxBurst` or `align`) throw a `TypeError` when `ticker()` is
 * called.
 *
 * @example
 * ```ts
 * import { each, main } from "effection";
 * import { ticker } from "bough/sources";
 *
 * await main(function* () {
 *   for (const tick of yield* each(ticker({ intervalMs: 2_000, missed: "skip" }))) {
 *     console.log(`tick ${tick.n}, ${tick.firedAt - tick.scheduledAt} ms late`);
 *     if (tick.skipped > 0) console.warn(`${tick.skipped} ticks missed`);
 *     yield* each.next();
 *   }
 * });
 * ```
 *
 * @example
 * ```ts
 * // by hand, without each(): the subscription lives as long as this scope
 * const ticks = yield* ticker({ intervalMs: 5_000, align: true });
 * const { value: tick } = yield* ticks.next();
 * ```
 */
export function ticker(options: TickerOptions): Stream<Tick, never> {
  const { intervalMs: interval, missed = "skip", align = false, maxBurst = 10 } = options ?? {};
  checkInterval("ticker", interval);
  if (!POLICIES.includes(missed)) {
    throw new TypeError(
      `ticker: missed must be one of ${POLICIES.map(show).join(", ")}, got ${show(missed)}`,
    );
  }
  if (!Number.isInteger(maxBurst) || maxBurst < 1) {
    throw new TypeError(`ticker: maxBurst must be an integer >= 1, got ${show(maxBurst)}`);
  }
  if (typeof align !== "boolean" && !(typeof align === "number" && Number.isFinite(align))) {
    throw new TypeError(`ticker: align must be a boolean or a finite number, got ${show(align)}`);
  }
  return {
    *[Symbol.iterator]() {
      const clock = yield* useClock();
      const subscription = new TickerSubscription(clock, interval, missed, align, maxBurst);
      yield* usePanel("source", `ticker every ${interval} ms`, () => subscription.panel());
      return subscription;
    },
  };
}

class TickerSubscription implements Subscription<Tick, never> {
  /** The grid's origin: tick `n` is due at `start + n · interval`. */
  private start: number;
  /** The next tick on the grid that has not been delivered or dropped. */
  private n = 1;
  /** Ticks delivered, for the inspector's panel. */
  private ticks = 0;
  /** Ticks dropped by `"skip"` or `"burst"`. */
  private missedTicks = 0;
  /** Times `"delay"` shifted the grid. */
  private delayed = 0;

  constructor(
    private readonly clock: Clock,
    private readonly interval: number,
    private readonly missed: MissedTickPolicy,
    align: boolean | number,
    private readonly maxBurst: number,
  ) {
    const now = clock.now();
    if (align === false) {
      this.start = now;
    } else {
      const phase = align === true ? 0 : align;
      this.start = phase + Math.floor((now - phase) / interval) * interval;
    }
  }

  /** What the inspector's panel shows (see {@link ticker}). */
  panel() {
    return {
      intervalMs: this.interval,
      missed: this.missed,
      ticks: this.ticks,
      missedTicks: this.missedTicks,
      delayed: this.delayed,
    };
  }

  private at(n: number): number {
    return this.start + n * this.interval;
  }

  /** The last tick on the grid (≥ this.n) that is due at `now`. */
  private lastDue(now: number): number {
    let k = this.n + Math.max(0, Math.floor((now - this.at(this.n)) / this.interval));
    while (this.at(k + 1) <= now) k++;
    while (k > this.n && this.at(k) > now) k--;
    return k;
  }

  *next(): Operation<IteratorResult<Tick, never>> {
    const clock = this.clock;
    let now = clock.now();
    let waited = false;
    const due = this.at(this.n);
    if (due > now) {
      yield* clock.sleepUntil(due);
      now = clock.now();
      waited = true;
    }
    const last = this.lastDue(now);
    let n = this.n;
    let skipped = 0;
    let scheduledAt: number;
    if (this.missed === "skip") {
      skipped = last - n;
      n = last;
      scheduledAt = this.at(n);
    } else if (this.missed === "burst") {
      const first = Math.max(n, last - this.maxBurst + 1);
      skipped = first - n;
      n = first;
      scheduledAt = this.at(n);
    } else {
      scheduledAt = this.at(n);
      // The consumer came late (or the wake-up missed a whole tick): shift the
      // grid so that the next tick is one interval from now. A wake-up that is
      // merely a little late (timer latency) does not move the grid, or the
      // ticker would drift like setInterval.
      if (waited ? last > n : now > scheduledAt) {
        this.start = now - n * this.interval;
        this.delayed++;
      }
    }
    this.n = n + 1;
    this.ticks++;
    this.missedTicks += skipped;
    return { done: false, value: { n, scheduledAt, firedAt: now, skipped } };
  }
}
