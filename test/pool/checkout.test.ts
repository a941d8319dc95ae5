import { all, run, spawn, until } from "effection";
import { describe, expect, it } from "vitest";
import {
  CheckoutFatalError,
  createDeferredLog,
  SerializationError,
  TaskError,
  usePool,
  WorkerCrashedError,
} from "../../src/pool/index.js";
import { realWorkerTests } from "../helpers/real-workers.js";
import { settle } from "../helpers/settle.js";
import type echoWorker from "./fixtures/echo-worker.js";
import { echoWorkerFile as worker } from "./helpers.js";

realWorkerTests();

type Echo = typeof echoWorker;

describe("checkout", () => {
  it("runs its calls in order on one worker", async () => {
    const { lengths, state, ids } = await run(function* () {
      const pool = yield* usePool<Echo>({ worker, maxWorkers: 2 });
      const checkout = yield* pool.checkout();
      const lengths = yield* all([0, 1, 2, 3, 4].map((i) => checkout.call("push", i)));
      const ids = yield* all([checkout.call("whoami"), checkout.call("whoami")]);
      return { lengths, state: yield* checkout.call("state"), ids };
    });
    expect(lengths).toEqual([1, 2, 3, 4, 5]);
    expect(state).toEqual([0, 1, 2, 3, 4]);
    expect(ids[0]).toEqual(ids[1]);
  });

  it("calls the worker through the typed api proxy", async () => {
    const result = await run(function* () {
      const pool = yield* usePool<Echo>({ worker, maxWorkers: 1 });
      const checkout = yield* pool.checkout();
      const n: number = yield* checkout.api.inc(1);
      const echoed = yield* checkout.api.echo({ a: [1, "two"] });
      return { n, echoed, worker: checkout.worker };
    });
    expect(result.n).toBe(2);
    expect(result.echoed).toEqual({ a: [1, "two"] });
    expect(result.worker?.pid).toBe(process.pid);
  });

  it("drops the calls queued behind an error, each with that error, and keeps serving later calls", async () => {
    const { outcomes, later } = await run(function* () {
      const pool = yield* usePool<Echo>({ worker, maxWorkers: 1 });
      const checkout = yield* pool.checkout();
      const outcomes = yield* all([
        settle(checkout.call("failLater", "first")),
        settle(checkout.call("push", 1)),
        settle(checkout.call("push", 2)),
      ]);
      const later = yield* checkout.call("push", 3);
      return { outcomes, later };
    });
    expect(outcomes[0].error).toBeInstanceOf(TaskError);
    expect(outcomes[1].error).toBe(outcomes[0].error);
    expect(outcomes[2].error).toBe(outcomes[0].error);
    expect(later).toBe(1);
  });

  it("keeps the remote name, message, stack and own properties of a worker's error", async () => {
    const { error } = await run(function* () {
      const pool = yield* usePool<Echo>({ worker, maxWorkers: 1 });
      return yield* settle(pool.run("fail", "bad input"));
    });
    expect(error).toBeInstanceOf(TaskError);
    expect(error.name).toBe("TaskError");
    expect(error.code).toBe("BOUGH_POOL_TASK_ERROR");
    expect(error.remoteName).toBe("RangeError");
    expect(error.message).toBe("bad input");
    expect(error.stack).toMatch(/RangeError: bad input/);
    expect(error.stack).toMatch(/echo-worker/);
    expect(error.extra).toBe(42);
    expect(error.detail).toEqual({ why: "testing" });
    expect(error.remote).toMatchObject({ name: "RangeError", extra: 42 });
  });

  it("fails every later call at once with CheckoutFatalError after a fatal error", async () => {
    await run(function* () {
      const pool = yield* usePool<Echo>({ worker, maxWorkers: 1 });
      const checkout = yield* pool.checkout();
      const crash = yield* settle(checkout.call("exit", 7));
      expect(crash.error).toBeInstanceOf(WorkerCrashedError);
      for (let i = 0; i < 3; i++) {
        const later = yield* settle(checkout.call("inc", i));
        expect(later.error).toBeInstanceOf(CheckoutFatalError);
        expect(later.error.cause).toBe(crash.error);
      }
    });
  });

  it("fails on purpose with fail(), killing its worker", async () => {
    await run(function* () {
      const pool = yield* usePool<Echo>({ worker, maxWorkers: 1 });
      const checkout = yield* pool.checkout();
      const first = (yield* checkout.call("whoami")).threadId;
      yield* checkout.fail(new Error("rollback impossible"));
      const later = yield* settle(checkout.call("inc", 1));
      expect(later.error).toBeInstanceOf(CheckoutFatalError);
      expect(later.error.cause.message).toBe("rollback impossible");
      expect(pool.stats().workers).toBeLessThanOrEqual(1);
      const task = yield* spawn(() => pool.run("whoami"));
      expect((yield* task).threadId).not.toBe(first);
    });
  });

  it("rejects arguments or a result that cannot be serialised with SerializationError, leaving the checkout usable", async () => {
    await run(function* () {
      const pool = yield* usePool<Echo>({ worker, maxWorkers: 1 });
      const checkout = yield* pool.checkout();
      const bad = yield* settle(checkout.call("echo", { callback: () => 1 } as never));
      expect(bad.error).toBeInstanceOf(SerializationError);
      expect(bad.error.message).toMatch(/arguments of "echo"/);
      expect(yield* checkout.call("inc", 1)).toBe(2);
      const before = (yield* checkout.call("whoami")).pid;
      const result = yield* settle(checkout.call("returnFunction"));
      expect(result.error).toBeInstanceOf(SerializationError);
      expect(result.error.code).toBe("BOUGH_POOL_UNSERIALIZABLE");
      expect(result.error.message).toMatch(/result cannot be sent back/);
      expect(yield* checkout.call("inc", 2)).toBe(3);
      expect((yield* checkout.call("whoami")).pid).toBe(before);
    });
  });

  it("merges the worker's deferred log into the checkout's logger with shifted times", async () => {
    const logger = createDeferredLog();
    logger.info("before");
    await run(function* () {
      const pool = yield* usePool<Echo>({ worker, maxWorkers: 1 });
      const checkout = yield* pool.checkout({ logger });
      yield* until(new Promise((resolve) => setTimeout(resolve, 20)));
      yield* checkout.call("logs", 7);
    });
    logger.info("after");
    const data = logger.end();
    expect(data.logs.map((entry) => entry.slice(2))).toEqual([
      ["before"],
      ["working on", 7],
      ["after"],
    ]);
    const workerTime = data.logs[1][0];
    expect(workerTime).toBeGreaterThanOrEqual(0.015);
    expect(workerTime).toBeLessThanOrEqual(data.logs[2][0]);
    // the call's own timer (named for the method) and the worker's, in start order
    expect(data.timers.map(([name]) => name)).toEqual(["logs", "work"]);
    expect(data.timers[1][1]).toBeGreaterThanOrEqual(data.timers[0][1]);
    expect(data.timers[0][2]).toBeGreaterThanOrEqual(data.timers[1][2] ?? 0);
    expect(data.data).toEqual({ n: 7 });
  });

  it("times each call of a checkout in its deferred log, five timers for five calls (t/logger.t)", async () => {
    const logger = createDeferredLog();
    await run(function* () {
      const pool = yield* usePool<Echo>({ worker, maxWorkers: 1 });
      const checkout = yield* pool.checkout({ logger });
      for (let i = 0; i < 5; i++) yield* checkout.call("sleep", 2);
    });
    const { timers } = logger.end();
    expect(timers.map(([name]) => name)).toEqual(["sleep", "sleep", "sleep", "sleep", "sleep"]);
    for (const [, start, end] of timers) expect(end).toBeGreaterThan(start);
    for (let i = 1; i < timers.length; i++) {
      expect(timers[i][1]).toBeGreaterThanOrEqual(timers[i - 1][2] ?? 0);
    }
  });
});
