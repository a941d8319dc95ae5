import { each, type Operation, run, spawn, suspend } from "effection";
import { describe, expect, it } from "vitest";
import { ClockContext, realClock } from "../../src/core/clock.js";
import { readPanels } from "../../src/core/panels.js";
import { type Tick, type TickerOptions, ticker } from "../../src/sources/ticker.js";
import { createVirtualClock, type VirtualClock } from "../../src/testing/virtual-clock.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";

checkLeaksAfterEach();

/**
 * Subscribes to a ticker under `clock` and takes `count` ticks; after the
 * tick with index `i`, the consumer works `work(i)` ms of virtual time.
 */
function take(
  clock: VirtualClock,
  options: TickerOptions,
  count: number,
  work: (i: number) => number = () => 0,
) {
  return run(function* (): Operation<Tick[]> {
    yield* ClockContext.set(clock);
    const ticks = yield* ticker(options);
    const seen: Tick[] = [];
    for (let i = 0; i < count; i++) {
      const { value } = yield* ticks.next();
      seen.push(value);
      const ms = work(i);
      if (ms > 0) yield* clock.sleep(ms);
    }
    return seen;
  });
}

const brief = (ticks: Tick[]) => ticks.map((t) => [t.n, t.scheduledAt, t.firedAt, t.skipped]);

describe("ticker", () => {
  it("fires exactly on start + n·interval over 10,000 intervals, with zero drift", async () => {
    const clock = createVirtualClock({ start: 1_000 });
    const interval = 7.3; // not a binary fraction: summing would drift
    const task = take(clock, { intervalMs: interval }, 10_000);
    await clock.advance(interval * 10_000);
    const ticks = await task;
    expect(ticks).toHaveLength(10_000);
    ticks.forEach((tick, i) => {
      const n = i + 1;
      expect(tick.n).toBe(n);
      expect(tick.scheduledAt).toBe(1_000 + n * interval);
      expect(tick.firedAt).toBe(tick.scheduledAt);
      expect(tick.skipped).toBe(0);
    });
    expect(ticks[9_999].firedAt).toBe(1_000 + 10_000 * interval);
    expect(clock.pending).toBe(0);
  });

  it("schedules from the start, not from the previous tick, when the consumer takes time", async () => {
    const clock = createVirtualClock();
    const task = take(clock, { intervalMs: 100 }, 4, () => 60);
    await clock.advance(1_000);
    expect(brief(await task)).toEqual([
      [1, 100, 100, 0],
      [2, 200, 200, 0],
      [3, 300, 300, 0],
      [4, 400, 400, 0],
    ]);
  });

  it("delivers a tick late but on its grid time when the consumer is less than an interval late", async () => {
    const clock = createVirtualClock();
    const task = take(clock, { intervalMs: 100 }, 3, (i) => (i === 0 ? 150 : 0));
    await clock.advance(1_000);
    expect(brief(await task)).toEqual([
      [1, 100, 100, 0],
      [2, 200, 250, 0],
      [3, 300, 300, 0],
    ]);
  });

  describe("with a consumer that blocks 3.5 intervals", () => {
    const blockOnce = (i: number) => (i === 0 ? 350 : 0);

    it('"skip" delivers the latest due tick at once, counts the missed ones and keeps the grid', async () => {
      const clock = createVirtualClock();
      const task = take(clock, { intervalMs: 100, missed: "skip" }, 4, blockOnce);
      await clock.advance(1_000);
      expect(brief(await task)).toEqual([
        [1, 100, 100, 0],
        [4, 400, 450, 2],
        [5, 500, 500, 0],
        [6, 600, 600, 0],
      ]);
    });

    it('"burst" delivers every missed tick at once, then keeps the grid', async () => {
      const clock = createVirtualClock();
      const task = take(clock, { intervalMs: 100, missed: "burst" }, 6, blockOnce);
      await clock.advance(1_000);
      expect(brief(await task)).toEqual([
        [1, 100, 100, 0],
        [2, 200, 450, 0],
        [3, 300, 450, 0],
        [4, 400, 450, 0],
        [5, 500, 500, 0],
        [6, 600, 600, 0],
      ]);
    });

    it('"burst" delivers at most maxBurst ticks and counts the older ones as skipped', async () => {
      const clock = createVirtualClock();
      const task = take(clock, { intervalMs: 100, missed: "burst", maxBurst: 2 }, 4, blockOnce);
      await clock.advance(1_000);
      expect(brief(await task)).toEqual([
        [1, 100, 100, 0],
        [3, 300, 450, 1],
        [4, 400, 450, 0],
        [5, 500, 500, 0],
      ]);
    });

    it('"delay" delivers the overdue tick at once and shifts the grid by the delay', async () => {
      const clock = createVirtualClock();
      const task = take(clock, { intervalMs: 100, missed: "delay" }, 4, blockOnce);
      await clock.advance(1_000);
      expect(brief(await task)).toEqual([
        [1, 100, 100, 0],
        [2, 200, 450, 0],
        [3, 550, 550, 0],
        [4, 650, 650, 0],
      ]);
    });
  });

  it("never builds a backlog, whatever the policy, after a consumer stalls for 10,000 intervals", async () => {
    for (const missed of ["skip", "burst", "delay"] as const) {
      const clock = createVirtualClock();
      const task = take(clock, { intervalMs: 10, missed, maxBurst: 5 }, 8, (i) =>
        i === 0 ? 100_000 : 0,
      );
      await clock.advance(200_000);
      const ticks = await task;
      // after the stall: at most maxBurst ticks come at once, then the grid's pace
      const immediate = ticks.filter((t) => t.firedAt === 100_010).length;
      expect(immediate).toBe(missed === "burst" ? 5 : 1);
      const last = ticks[7];
      expect(last.firedAt).toBeLessThanOrEqual(100_010 + 7 * 10);
      const skipped = ticks.reduce((sum, t) => sum + t.skipped, 0);
      expect(skipped).toBe(missed === "delay" ? 0 : missed === "skip" ? 9_999 : 9_995);
    }
  });

  it("leaves no timer behind when the consumer is halted mid-wait", async () => {
    const clock = createVirtualClock();
    const seen: Tick[] = [];
    const task = run(function* () {
      yield* ClockContext.set(clock);
      for (const tick of yield* each(ticker({ intervalMs: 100 }))) {
        seen.push(tick);
        yield* each.next();
      }
    });
    await clock.advance(250);
    expect(seen.map((t) => t.n)).toEqual([1, 2]);
    expect(clock.pending).toBe(1);
    await task.halt();
    expect(clock.pending).toBe(0);
  });

  it("keeps no timer while the consumer works between ticks", async () => {
    const clock = createVirtualClock();
    let pendingWhileWorking = -1;
    const task = run(function* () {
      yield* ClockContext.set(clock);
      const ticks = yield* ticker({ intervalMs: 100 });
      yield* ticks.next();
      pendingWhileWorking = clock.pending;
    });
    await clock.advance(100);
    await task;
    expect(pendingWhileWorking).toBe(0);
  });

  it("gives each subscription its own grid, from when it subscribes", async () => {
    const clock = createVirtualClock();
    const stream = ticker({ intervalMs: 100 });
    const firsts: number[] = [];
    const task = run(function* () {
      yield* ClockContext.set(clock);
      const a = yield* stream;
      firsts.push((yield* a.next()).value.firedAt);
      yield* clock.sleep(30);
      const b = yield* stream;
      firsts.push((yield* b.next()).value.firedAt);
    });
    await clock.advance(1_000);
    await task;
    expect(firsts).toEqual([100, 230]);
  });

  it("aligns ticks to multiples of the interval, or to a phase", async () => {
    const clock = createVirtualClock({ start: 1_234 });
    const aligned = take(clock, { intervalMs: 1_000, align: true }, 2);
    const phased = take(clock, { intervalMs: 1_000, align: 250 }, 2);
    await clock.advance(3_000);
    expect(brief(await aligned)).toEqual([
      [1, 2_000, 2_000, 0],
      [2, 3_000, 3_000, 0],
    ]);
    expect(brief(await phased)).toEqual([
      [1, 1_250, 1_250, 0],
      [2, 2_250, 2_250, 0],
    ]);
  });

  it("throws a TypeError at call time for invalid options", () => {
    const bad: unknown[] = [
      { interval: 0 },
      { interval: -5 },
      { interval: Number.NaN },
      { interval: Number.POSITIVE_INFINITY },
      { interval: "100" },
      {},
      undefined,
      { interval: 100, missed: "drop" },
      { interval: 100, missed: "burst", maxBurst: 0 },
      { interval: 100, missed: "burst", maxBurst: 1.5 },
      { interval: 100, align: "yes" },
      { interval: 100, align: Number.NaN },
    ];
    for (const options of bad) {
      expect(() => ticker(options as TickerOptions), JSON.stringify(options)).toThrow(TypeError);
    }
    expect(() => ticker({ intervalMs: 0 })).toThrow(/ticker: intervalMs must be .* got 0/);
    expect(() => ticker({ intervalMs: 10, missed: "drop" as never })).toThrow(/"drop"/);
  });

  it("keeps the real clock's schedule: lateness does not accumulate", async () => {
    const lateness: number[] = [];
    await run(function* () {
      yield* ClockContext.set(realClock);
      const ticks = yield* ticker({ intervalMs: 5 });
      for (let i = 0; i < 40; i++) {
        const { value } = yield* ticks.next();
        lateness.push(value.firedAt - value.scheduledAt);
      }
    });
    // 40 ticks at 5 ms: with setInterval-style re-arming lateness would add up;
    // here every tick is measured against its own grid time
    expect(Math.max(...lateness)).toBeLessThan(100);
    expect(lateness.every((l) => l >= 0)).toBe(true);
  });

  it("can be consumed by a spawned task while the parent goes on", async () => {
    const clock = createVirtualClock();
    const ns: number[] = [];
    const task = run(function* () {
      yield* ClockContext.set(clock);
      yield* spawn(function* () {
        for (const tick of yield* each(ticker({ intervalMs: 10 }))) {
          ns.push(tick.n);
          yield* each.next();
        }
      });
      yield* suspend();
    });
    await clock.advance(55);
    await task.halt();
    expect(ns).toEqual([1, 2, 3, 4, 5]);
    expect(clock.pending).toBe(0);
  });

  describe("its inspector panel", () => {
    /** Takes `count` ticks with a consumer that blocks 3.5 intervals after the first, then reads the panel. */
    function panelAfter(clock: VirtualClock, options: TickerOptions, count: number) {
      return run(function* () {
        yield* ClockContext.set(clock);
        const ticks = yield* ticker(options);
        for (let i = 0; i < count; i++) {
          yield* ticks.next();
          if (i === 0) yield* clock.sleep(350);
        }
        const mine = readPanels().filter((p) => p.kind === "source" && p.name.startsWith("ticker"));
        return mine.map((p) => ({ name: p.name, values: p.values }));
      });
    }

    it("shows the interval, the ticks delivered and the ticks missed while it is subscribed", async () => {
      const clock = createVirtualClock();
      const task = panelAfter(clock, { intervalMs: 100, missed: "skip" }, 4);
      await clock.advance(1_000);
      expect(await task).toEqual([
        {
          name: "ticker every 100 ms",
          values: { intervalMs: 100, missed: "skip", ticks: 4, missedTicks: 2, delayed: 0 },
        },
      ]);
      expect(readPanels().filter((p) => p.name.startsWith("ticker"))).toEqual([]);
    });

    it('counts the grid shifts of "delay" and the ticks "burst" dropped beyond maxBurst', async () => {
      const clock = createVirtualClock();
      const delayed = panelAfter(clock, { intervalMs: 100, missed: "delay" }, 4);
      const burst = panelAfter(clock, { intervalMs: 100, missed: "burst", maxBurst: 2 }, 4);
      await clock.advance(1_000);
      // both tickers run at once: each task sees both panels, told apart by their policy
      const policy = (panels: { values: Record<string, unknown> }[], missed: string) =>
        panels.find((p) => p.values.missed === missed)?.values;
      expect(policy(await delayed, "delay")).toMatchObject({
        ticks: 4,
        missedTicks: 0,
        delayed: 1,
      });
      expect(policy(await burst, "burst")).toMatchObject({ ticks: 4, missedTicks: 1, delayed: 0 });
    });
  });
});
