import { createSignal, each, type Operation, run, type Stream, spawn } from "effection";
import { describe, expect, it } from "vitest";
import { ClockContext } from "../../src/core/clock.js";
import { readPanels } from "../../src/core/panels.js";
import { type PollOptions, type PollReason, poll } from "../../src/sources/poll.js";
import { useUdpSocket } from "../../src/sources/udp-socket.js";
import { createVirtualClock, type VirtualClock } from "../../src/testing/virtual-clock.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";

checkLeaksAfterEach();

interface Run {
  at: number;
  reason: PollReason;
}

/**
 * Consumes `poll(options)` under `clock` with a job that takes `jobMs` of
 * virtual time, recording when each run starts and why. Runs until halted.
 */
function consume(clock: VirtualClock, options: PollOptions, jobMs: number, runs: Run[]) {
  return run(function* () {
    yield* ClockContext.set(clock);
    for (const reason of yield* each(poll(options))) {
      runs.push({ at: clock.now(), reason });
      if (jobMs > 0) yield* clock.sleep(jobMs);
      yield* each.next();
    }
  });
}

const list = (runs: Run[]) => runs.map((r) => `${r.at} ${r.reason}`);

describe("poll", () => {
  it("runs on the timer when no kick arrives, restarting the timer after each run", async () => {
    const clock = createVirtualClock();
    const runs: Run[] = [];
    const task = consume(clock, { intervalMs: 100, kick: createSignal<void, never>() }, 30, runs);
    await clock.advance(400);
    await task.halt();
    expect(list(runs)).toEqual(["100 timer", "230 timer", "360 timer"]);
    expect(clock.pending).toBe(0);
  });

  it("runs on the timer without a kick stream", async () => {
    const clock = createVirtualClock();
    const runs: Run[] = [];
    const task = consume(clock, { intervalMs: 100 }, 0, runs);
    await clock.advance(300);
    await task.halt();
    expect(list(runs)).toEqual(["100 timer", "200 timer", "300 timer"]);
    expect(clock.pending).toBe(0);
  });

  it("runs at once on a kick while waiting, and restarts the timer after that run", async () => {
    const clock = createVirtualClock();
    const kicks = createSignal<void, never>();
    const runs: Run[] = [];
    const task = consume(clock, { intervalMs: 100, kick: kicks }, 10, runs);
    await clock.advance(40);
    kicks.send();
    await clock.advance(260);
    await task.halt();
    expect(list(runs)).toEqual(["40 kick", "150 timer", "260 timer"]);
  });

  it("turns a kick during a running job into exactly one extra run", async () => {
    const clock = createVirtualClock();
    const kicks = createSignal<void, never>();
    const runs: Run[] = [];
    const task = consume(clock, { intervalMs: 100, kick: kicks }, 50, runs);
    await clock.advance(120); // the timer run started at 100 and lasts until 150
    kicks.send();
    await clock.advance(230);
    await task.halt();
    expect(list(runs)).toEqual(["100 timer", "150 kick", "300 timer"]);
  });

  it("turns 100 kicks during one job into one extra run", async () => {
    const clock = createVirtualClock();
    const kicks = createSignal<void, never>();
    const runs: Run[] = [];
    const task = consume(clock, { intervalMs: 100, kick: kicks }, 50, runs);
    await clock.advance(110);
    for (let i = 0; i < 100; i++) {
      kicks.send();
      if (i % 10 === 0) await clock.advance(3); // spread over the job's time
    }
    expect(clock.now()).toBeLessThan(150); // every kick fell inside the job
    await clock.advance(460 - clock.now());
    await task.halt();
    expect(list(runs)).toEqual(["100 timer", "150 kick", "300 timer", "450 timer"]);
  });

  it("never runs the job twice at once, however the kicks fall", async () => {
    const clock = createVirtualClock();
    const kicks = createSignal<void, never>();
    let running = 0;
    let most = 0;
    let runs = 0;
    const task = run(function* () {
      yield* ClockContext.set(clock);
      for (const _ of yield* each(poll({ intervalMs: 7, kick: kicks }))) {
        running++;
        runs++;
        most = Math.max(most, running);
        yield* clock.sleep(5);
        running--;
        yield* each.next();
      }
    });
    for (let t = 0; t < 300; t++) {
      if (t % 3 !== 0) kicks.send();
      await clock.advance(1);
    }
    await task.halt();
    expect(most).toBe(1);
    expect(runs).toBeGreaterThan(40);
    expect(runs).toBeLessThanOrEqual(60); // at most one run per 5 ms job
  });

  it("delivers a first timer at once with immediate", async () => {
    const clock = createVirtualClock();
    const runs: Run[] = [];
    const task = consume(clock, { intervalMs: 100, immediate: true }, 0, runs);
    await clock.advance(100);
    await task.halt();
    expect(list(runs)).toEqual(["0 timer", "100 timer"]);
  });

  it("leaves no timer and no kick subscription behind when halted mid-wait", async () => {
    const clock = createVirtualClock();
    const kicks = createSignal<void, never>();
    const runs: Run[] = [];
    const task = consume(clock, { intervalMs: 100, kick: kicks }, 0, runs);
    await clock.advance(50);
    expect(clock.pending).toBe(1);
    await task.halt();
    expect(clock.pending).toBe(0);
    kicks.send(); // nobody listens any more: nothing happens
    await clock.flush();
    expect(runs).toEqual([]);
  });

  it("keeps polling on the timer after the kick stream ends", async () => {
    const clock = createVirtualClock();
    const kicks = createSignal<void, void>();
    const runs: Run[] = [];
    const task = consume(clock, { intervalMs: 100, kick: kicks }, 0, runs);
    await clock.advance(10);
    kicks.close();
    await clock.advance(190);
    await task.halt();
    expect(list(runs)).toEqual(["100 timer", "200 timer"]);
  });

  it("fails the consumer when the kick stream fails", async () => {
    const clock = createVirtualClock();
    const failing: Stream<void, never> = {
      *[Symbol.iterator]() {
        return {
          *next(): Operation<IteratorResult<void, never>> {
            yield* clock.sleep(30);
            throw new Error("kick source broke");
          },
        };
      },
    };
    const task = consume(clock, { intervalMs: 100, kick: failing }, 0, []);
    await clock.advance(30);
    await expect(task).rejects.toThrow("kick source broke");
    expect(clock.pending).toBe(0);
  });

  it("is kick-started by a UDP datagram (seed 001)", async () => {
    const clock = createVirtualClock();
    const runs: Run[] = [];
    let port = 0;
    const task = run(function* () {
      yield* ClockContext.set(clock);
      const udp = yield* useUdpSocket({ host: "127.0.0.1" });
      port = udp.address.port;
      const sender = yield* useUdpSocket({ host: "127.0.0.1" });
      yield* spawn(function* () {
        for (const reason of yield* each(poll({ intervalMs: 60_000, kick: udp.messages }))) {
          runs.push({ at: clock.now(), reason });
          yield* each.next();
        }
      });
      yield* clock.sleep(10);
      yield* sender.send("work!", port, "127.0.0.1");
      yield* clock.sleep(60_005);
    });
    await clock.advance(10);
    // the datagram crosses a real socket: wait for its run (up to 10 s on a busy machine)
    for (let i = 0; i < 2000 && runs.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    await clock.advance(60_005);
    await task;
    expect(list(runs)).toEqual(["10 kick", "60010 timer"]);
  });

  it("throws a TypeError at call time for invalid options", () => {
    for (const options of [
      { interval: 0 },
      { interval: Number.NaN },
      { interval: -1 },
      {},
      { interval: 10, kick: 5 },
    ]) {
      expect(() => poll(options as PollOptions), JSON.stringify(options)).toThrow(TypeError);
    }
  });

  it("shows its runs by reason, the kicks it received and whether a job runs on the inspector's panel", async () => {
    const clock = createVirtualClock();
    const kicks = createSignal<void, never>();
    const runs: Run[] = [];
    const task = consume(clock, { intervalMs: 100, kick: kicks }, 50, runs);
    const panel = () => readPanels().find((p) => p.name === "poll every 100 ms");
    await clock.advance(110);
    for (let i = 0; i < 100; i++) kicks.send(); // during the job: one extra run
    await clock.advance(460 - clock.now()); // runs at 100, 150 (kick), 300, 450: a job runs
    expect(panel()).toMatchObject({
      kind: "source",
      values: { intervalMs: 100, runs: 4, timer: 3, kick: 1, kicks: 100, waiting: false },
    });
    await clock.advance(50); // the job ended: waiting for the next run
    expect(panel()?.values.waiting).toBe(true);
    await task.halt();
    expect(panel()).toBeUndefined();
  });
});
