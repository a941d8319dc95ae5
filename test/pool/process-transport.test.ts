import { readFileSync } from "node:fs";
import { run, spawn, until } from "effection";
import { describe, expect, it, vi } from "vitest";
import {
  CheckoutFatalError,
  SerializationError,
  TimeoutError,
  usePool,
  WorkerCrashedError,
  WorkerResourceLimitError,
} from "../../src/pool/index.js";
import { limitFlags, openProcessLink, workerTitle } from "../../src/pool/process-transport.js";
import { isAlive, realWorkerTests } from "../helpers/real-workers.js";
import { settle } from "../helpers/settle.js";
import type echoWorker from "./fixtures/echo-worker.js";
import { eventually, FULL_CALL_META, metaRoundTrip, echoWorkerFile as worker } from "./helpers.js";

realWorkerTests({ threads: false });

type Echo = typeof echoWorker;

describe("process transport", () => {
  it("runs calls in a child process and reaps it when the pool ends", async () => {
    const pid = await run(function* () {
      const pool = yield* usePool<Echo>({ worker, transport: "process", maxWorkers: 1 });
      const checkout = yield* pool.checkout();
      expect(yield* checkout.call("inc", 1)).toBe(2);
      const { pid } = yield* checkout.call("whoami");
      expect(pid).not.toBe(process.pid);
      expect(checkout.worker?.pid).toBe(pid);
      return pid;
    });
    expect(isAlive(pid)).toBe(false);
  });

  it("fails a call that goes past a process's heap limit with WorkerResourceLimitError, prints nothing, and replaces the worker", async () => {
    const printed = vi.spyOn(process.stderr, "write");
    try {
      await run(function* () {
        const pool = yield* usePool<Echo>({
          worker,
          transport: "process",
          maxWorkers: 1,
          resourceLimits: { maxOldGenerationSizeMb: 96 },
        });
        const first = yield* pool.run("whoami");
        expect(yield* pool.run("allocate", 4)).toBe(4);
        const { error } = yield* settle(pool.run("allocate", 1024));
        expect(error).toBeInstanceOf(WorkerResourceLimitError);
        expect(error).toBeInstanceOf(WorkerCrashedError);
        expect(error.code).toBe("BOUGH_POOL_RESOURCE_LIMIT");
        expect(error.message).toMatch(/heap/i);
        expect(isAlive(first.pid)).toBe(false);
        const second = yield* pool.run("whoami");
        expect(second.pid).not.toBe(first.pid);
        expect(yield* pool.run("inc", 1)).toBe(2);
      });
      // V8's out-of-memory report became the error's message instead of being printed
      const text = printed.mock.calls.map(([chunk]) => String(chunk)).join("");
      expect(text).not.toMatch(/FATAL ERROR|Last few GCs/);
    } finally {
      printed.mockRestore();
    }
  });

  it("runs a named pool's process workers with the title bough-worker:NAME, as ps shows it", async () => {
    await run(function* () {
      const pool = yield* usePool<Echo>({
        worker,
        transport: "process",
        maxWorkers: 1,
        name: "billing\u0007",
      });
      const { pid } = yield* pool.run("whoami");
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      expect(argv[0]).toBe("bough-worker:billing?");
    });
    expect(workerTitle(undefined)).toBeUndefined();
    expect(workerTitle("x".repeat(100))).toBe(`bough-worker:${"x".repeat(64)}`);
  });

  it("turns resourceLimits into V8 flags for a process", () => {
    expect(limitFlags(undefined)).toEqual([]);
    expect(
      limitFlags({ maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 12, stackSizeMb: 2 }),
    ).toEqual(["--max-old-space-size=64", "--max-semi-space-size=4", "--stack-size=2048"]);
  });

  it("returns from halting a busy checkout only after the child process is reaped", async () => {
    let pid = 0;
    const task = run(function* () {
      const pool = yield* usePool<Echo>({ worker, transport: "process", maxWorkers: 1 });
      const checkout = yield* pool.checkout();
      pid = (yield* checkout.call("whoami")).pid;
      yield* checkout.call("hang");
    });
    await eventually(() => pid !== 0);
    expect(isAlive(pid)).toBe(true);
    await task.halt();
    expect(isAlive(pid)).toBe(false);
  });

  it("kills a hung child process at the timeout and replaces it", async () => {
    await run(function* () {
      const pool = yield* usePool<Echo>({
        worker,
        transport: "process",
        minWorkers: 1,
        maxWorkers: 1,
        timeoutMs: 20_000,
      });
      yield* until(eventually(() => pool.stats().idle === 1, 20_000));
      const checkout = yield* spawn(function* () {
        const c = yield* pool.checkout({ timeoutMs: 2500 });
        const { pid } = yield* c.call("whoami");
        const hung = yield* settle(c.call("hang"));
        expect(hung.error).toBeInstanceOf(TimeoutError);
        const later = yield* settle(c.call("inc", 1));
        expect(later.error).toBeInstanceOf(CheckoutFatalError);
        return pid;
      });
      const oldPid = yield* checkout;
      expect(isAlive(oldPid)).toBe(false);
      const { pid } = yield* pool.run("whoami");
      expect(pid).not.toBe(oldPid);
    });
  });

  it("gives WorkerCrashedError when the child calls process.exit mid-call", async () => {
    await run(function* () {
      const pool = yield* usePool<Echo>({ worker, transport: "process", maxWorkers: 1 });
      const outcome = yield* settle(pool.run("exit", 5));
      expect(outcome.error).toBeInstanceOf(WorkerCrashedError);
      expect(outcome.error.exitCode).toBe(5);
      expect(yield* pool.run("inc", 1)).toBe(2);
    });
  });

  it("rejects unserialisable arguments at the call site", async () => {
    await run(function* () {
      const pool = yield* usePool<Echo>({ worker, transport: "process", maxWorkers: 1 });
      const outcome = yield* settle(pool.run("echo", (() => 1) as never));
      expect(outcome.error).toBeInstanceOf(SerializationError);
      expect(yield* pool.run("echo", new Map([[1, "one"]]))).toEqual(new Map([[1, "one"]]));
    });
  });

  it("carries a call's metadata (trace context, client name) to the worker process", async () => {
    const link = openProcessLink(worker);
    expect(await metaRoundTrip(link)).toEqual(["ok", {}, FULL_CALL_META]);
    await link.kill();
  });

  it("opens a link whose kill() resolves once the process has exited", async () => {
    const link = openProcessLink(worker);
    const meta = await link.ready;
    expect(isAlive(meta.pid)).toBe(true);
    await link.kill();
    expect(isAlive(meta.pid)).toBe(false);
  });
});
