import { action, type Operation, run, spawn, suspend, type Task } from "effection";
import { afterEach, describe, expect, it } from "vitest";
import type { JobEvent } from "../../examples/job-runner/events.js";
import { progressStream } from "../../examples/job-runner/progress-stream.js";
import {
  type JobRunner,
  type JobRunnerOptions,
  useJobRunner,
} from "../../examples/job-runner/runner.js";
import { type Clock, ClockContext } from "../../src/index.js";
import { createVirtualClock, type VirtualClock } from "../../src/testing/index.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";

checkLeaksAfterEach();

let task: Task<void> | undefined;
let clock: VirtualClock;
let runner: JobRunner;
let events: JobEvent[];

/** Starts a runner on a virtual clock, recording every event it publishes. */
async function start(
  concurrency = 3,
  wrap?: (clock: VirtualClock) => Clock,
  options: Omit<JobRunnerOptions, "concurrency"> = {},
): Promise<void> {
  clock = createVirtualClock();
  events = [];
  let ready!: () => void;
  const started = new Promise<void>((resolve) => {
    ready = resolve;
  });
  task = run(function* () {
    yield* ClockContext.set(wrap ? wrap(clock) : clock);
    runner = yield* useJobRunner({ concurrency, ...options });
    yield* spawn(function* () {
      const sub = yield* runner.events.subscribe({ after: "0" });
      for (;;) events.push((yield* sub.next()).value.value);
    });
    ready();
    yield* suspend();
  });
  await started;
  await clock.flush();
}

afterEach(async () => {
  await task?.halt();
  task = undefined;
  expect(clock.pending).toBe(0);
});

const call = <T>(op: () => Operation<T>): Promise<T> => run(op);

function typesOf(id: number): string[] {
  return events.filter((e) => "job" in e && e.job.id === id).map((e) => e.type);
}

describe("the job runner on a virtual clock", () => {
  it("keeps a countdown cancelled in its last second cancelled", async () => {
    await start();
    const job = await call(() => runner.create({ job_type: "countdown", params: { seconds: 3 } }));
    await clock.flush();
    expect(runner.get(job.id).status).toBe("running");
    await clock.advance(2500);
    expect(runner.get(job.id).progress).toEqual({ percent: 66, message: "1 second remaining..." });

    const cancelled = await call(() => runner.cancel(job.id));
    expect(cancelled.status).toBe("cancelled");
    // the job's last sleep was halted with it: no timer is left to fire
    expect(clock.pending).toBe(0);
    expect(runner.scheduler.running()).toEqual([]);

    await clock.advance(5000);
    expect(runner.get(job.id)).toMatchObject({ status: "cancelled", progress: { percent: 66 } });
    expect(typesOf(job.id)).toEqual([
      "job_created",
      "job_started",
      "job_progress",
      "job_progress",
      "job_progress",
      "job_cancelled",
    ]);
  });

  it("settles a cancel that arrives as the last sleep ends with one final status and one final event", async () => {
    // The original's race: the last sleep is over, the job is about to be
    // recorded as completed, and a cancel comes in. A clock starts the cancel
    // at exactly that point, from inside the job's own step. A job's step runs
    // to its end before any other task (as an effection task's does), so the
    // job completes and the cancel is refused — never both, never neither.
    let cancelAt = Number.NaN;
    let cancelling: Promise<{ job?: unknown; error?: unknown }> | undefined;
    await start(3, (virtual) => ({
      now: () => virtual.now(),
      sleep: (ms) => virtual.sleep(ms),
      *sleepUntil(time) {
        yield* virtual.sleepUntil(time);
        if (time === cancelAt) {
          cancelling = call(() => runner.cancel(1)).then(
            (job) => ({ job }),
            (error: unknown) => ({ error }),
          );
        }
      },
    }));
    const job = await call(() => runner.create({ job_type: "countdown", params: { seconds: 2 } }));
    cancelAt = clock.now() + 2000;
    await clock.advance(2000);
    expect(cancelling).toBeDefined();
    const answer = await cancelling;
    await clock.runUntilIdle();
    const finals = typesOf(job.id).filter((t) => t === "job_completed" || t === "job_cancelled");
    expect(finals).toHaveLength(1);
    if (answer?.error) {
      expect((answer.error as Error).name).toBe("JobNotCancellableError");
      expect(runner.get(job.id).status).toBe("completed");
      expect(finals).toEqual(["job_completed"]);
    } else {
      expect(runner.get(job.id).status).toBe("cancelled");
      expect(finals).toEqual(["job_cancelled"]);
    }
  });

  it("completes a countdown on time, one progress event per second", async () => {
    await start();
    const job = await call(() => runner.create({ job_type: "countdown", params: { seconds: 4 } }));
    await clock.advance(3999);
    expect(runner.get(job.id).status).toBe("running");
    await clock.advance(1);
    expect(runner.get(job.id)).toMatchObject({
      status: "completed",
      progress: { percent: 100, message: "Complete" },
      result: { message: "Countdown complete!", duration: 4 },
    });
    const progress = events
      .filter((e) => e.type === "job_progress")
      .map((e) => ("job" in e ? e.job.progress : undefined));
    expect(progress).toEqual([
      { percent: 0, message: "4 seconds remaining..." },
      { percent: 25, message: "3 seconds remaining..." },
      { percent: 50, message: "2 seconds remaining..." },
      { percent: 75, message: "1 second remaining..." },
      { percent: 100, message: "Complete!" },
    ]);
  });

  it("runs at most `concurrency` jobs, first come first served", async () => {
    await start(2);
    for (const seconds of [3, 1, 2, 1, 1]) {
      await call(() => runner.create({ job_type: "countdown", params: { seconds } }));
    }
    await clock.flush();
    expect(runner.scheduler.running().sort()).toEqual([1, 2]);
    await clock.advance(1000); // job 2 ends, job 3 starts
    expect(runner.scheduler.running().sort()).toEqual([1, 3]);
    await clock.advance(2000); // jobs 1 and 3 end, 4 and 5 start
    expect(runner.scheduler.running().sort()).toEqual([4, 5]);
    await clock.advance(1000);
    expect(runner.stats()).toMatchObject({ completed: 5, running: 0, pending: 0 });
    const started = events
      .filter((e) => e.type === "job_started")
      .map((e) => ("job" in e ? e.job.id : 0));
    expect(started).toEqual([1, 2, 3, 4, 5]);
    expect(runner.scheduler.peak).toBe(2);
  });

  it("halts running jobs when its scope ends, leaving no timer behind", async () => {
    await start();
    await call(() => runner.create({ job_type: "countdown", params: { seconds: 60 } }));
    await call(() => runner.create({ job_type: "echo", params: { delay: 30 } }));
    await call(() => runner.create({ job_type: "fibonacci", params: { count: 50 } }));
    await clock.advance(100);
    expect(runner.scheduler.running()).toHaveLength(3);
    expect(clock.pending).toBe(3);
    await task?.halt();
    task = undefined;
    expect(clock.pending).toBe(0);
  });

  it("ends a progress stream that fell too far behind, after what it had buffered", async () => {
    await start(3, undefined, { subscriberBuffer: 4 });
    const job = await call(() => runner.create({ job_type: "countdown", params: { seconds: 20 } }));
    await clock.flush();
    const seen: string[] = [];
    let resume!: () => void;
    const reading = run(function* () {
      const sub = yield* progressStream(runner, job.id);
      seen.push((yield* sub.next()).value?.event ?? "end");
      // one live event, read on time
      seen.push((yield* sub.next()).value?.event ?? "end");
      // then stop reading while ten seconds of progress are published
      yield* action<void>((resolve) => {
        resume = resolve;
        return () => {};
      });
      for (;;) {
        const next = yield* sub.next();
        if (next.done) break;
        seen.push(next.value.event);
      }
      return "ended";
    });
    await clock.advance(1000);
    expect(seen).toEqual(["status", "progress"]);
    await clock.advance(10_000);
    resume();
    expect(await reading).toBe("ended");
    // the four it had room for, then the end: the client resumes from its last id
    expect(seen).toEqual(["status", "progress", "progress", "progress", "progress", "progress"]);
    expect(runner.events.stats().dropped.close).toBeGreaterThan(0);
    await call(() => runner.cancel(job.id));
  });
});
