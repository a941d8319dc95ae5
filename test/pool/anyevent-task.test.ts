/**
 * AnyEvent::Task's own test suite (hoytech/AnyEvent-Task, t/*.t), translated:
 * each test runs the same scenario as one t/ file, against a worker server
 * (`serveWorkers` on a unix socket, as `fork_task_server` does) and remote
 * pools (`usePool({ connect })`, AnyEvent::Task::Client). Workers are threads
 * here, to keep the suite quick on a shared machine; the process transport
 * has its own tests in serve-workers.test.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Operation, run, scoped, sleep, spawn } from "effection";
import { afterAll, describe, expect, it } from "vitest";
import {
  CheckoutFatalError,
  createDeferredLog,
  type ServeWorkersOptions,
  SetupError,
  serveWorkers,
  TaskError,
  TimeoutError,
  usePool,
  WorkerCrashedError,
} from "../../src/pool/index.js";
import { realWorkerTests } from "../helpers/real-workers.js";
import { settle } from "../helpers/settle.js";
import type aetArgsWorker from "./fixtures/aet-args-worker.js";
import type aetWorker from "./fixtures/aet-worker.js";

realWorkerTests();

type Aet = typeof aetWorker;

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url);
const dir = mkdtempSync(join(tmpdir(), "bough-aet-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let sockets = 0;

/** fork_task_server: a worker server on a fresh unix socket, for the calling scope. */
function* taskServer(
  worker = fixture("aet-worker.ts"),
  options: Partial<ServeWorkersOptions> = {},
): Operation<{ path: string }> {
  const path = join(dir, `t${++sockets}.sock`);
  yield* serveWorkers({ listen: { path }, worker, transport: "thread", ...options });
  return { path };
}

describe("AnyEvent::Task's t/ suite, on bough/pool", () => {
  it("passes arguments, results and errors unchanged, and names a failed call 'MY CLIENT NAME -> error' (t/args.t)", async () => {
    await run(function* () {
      const connect = yield* taskServer(fixture("aet-args-worker.ts"));
      const client = yield* usePool<typeof aetArgsWorker>({
        connect,
        maxWorkers: 1,
        name: "MY CLIENT NAME",
      });
      const [first, second, third] = yield* scoped(function* () {
        const checkout = yield* client.checkout();
        return (yield* checkout.api(1, [2], { three: 3, λ: "𝇚" })) as unknown[];
      });
      expect(first).toBe(1);
      expect(second).toEqual([2]);
      expect(third).toEqual({ three: 3, λ: "𝇚" });
      expect((third as { λ: string }).λ.codePointAt(0)).toBe(0x1d1da); // unicode round-tripped
      expect(yield* client.run("some_method", 1)).toEqual(["some_method", 1]);

      const { error } = yield* settle(client.run("error", "die please"));
      expect(error).toBeInstanceOf(TaskError);
      expect(error.message).toMatch(/ERR: die please/);
      expect(error.message).not.toMatch(/setup exception/i);
      const again = yield* settle(client.run("error", "again, plz die"));
      expect(again.error.message).toMatch(/ERR: again, plz die/);
      expect(again.error.call).toBe("MY CLIENT NAME -> error");
      expect(again.error.stack).toMatch(/MY CLIENT NAME -> error/);
    });
  });

  it("names a failed call of a client without a name 'ANONYMOUS CLIENT -> method' (t/args.t)", async () => {
    await run(function* () {
      const connect = yield* taskServer(fixture("aet-args-worker.ts"));
      const client = yield* usePool<typeof aetArgsWorker>({ connect, maxWorkers: 1 });
      const { error } = yield* settle(client.run("error", "x"));
      expect(error.call).toBe("ANONYMOUS CLIENT -> error");
    });
  });

  it("keeps the worker of a checkout that threw, across checkouts, with dontReforkAfterError (t/dont_refork_after_error.t)", async () => {
    await run(function* () {
      const connect = yield* taskServer();
      const client = yield* usePool<Aet>({ connect, maxWorkers: 1, dontReforkAfterError: true });
      const pid = yield* scoped(function* () {
        const checkout = yield* client.checkout();
        const pid = yield* checkout.api.get_pid();
        expect(yield* checkout.api.get_pid()).toBe(pid); // same checkout, same worker
        const blah = yield* settle(checkout.api.throw("BLAH"));
        expect(blah.error.message).toMatch(/BLAH/);
        expect(yield* checkout.api.get_pid()).toBe(pid); // even after an error
        const ouch = yield* settle(checkout.api.throw("OUCH"));
        expect(ouch.error.message).toMatch(/OUCH/);
        expect(yield* checkout.api.get_pid()).toBe(pid);
        return pid;
      });
      // threads share the server's pid: the thread is what must not change
      const again = yield* scoped(function* () {
        const checkout = yield* client.checkout();
        yield* checkout.api.get_pid();
        return checkout.worker;
      });
      expect(again?.pid).toBe(pid);
      expect(client.stats().spawned).toBe(1);
    });
  });

  it("fails the calls queued behind an error with that one error, once (t/error-clears-checkout-queue.t)", async () => {
    await run(function* () {
      const connect = yield* taskServer();
      const client = yield* usePool<Aet>({ connect });
      const outcomes: string[] = [];
      yield* scoped(function* () {
        const checkout = yield* client.checkout();
        const calls = [
          checkout.api.success(),
          checkout.api.success(),
          checkout.api.die(),
          checkout.api.success(),
          checkout.api.success(),
        ];
        const tasks = [];
        for (const call of calls) {
          tasks.push(
            yield* spawn(function* () {
              const { value, error } = yield* settle(call);
              outcomes.push(error ? `error: ${error.message}` : `ok: ${value}`);
            }),
          );
        }
        for (const task of tasks) yield* task;
      });
      expect(outcomes.slice(0, 2)).toEqual(["ok: 1", "ok: 1"]);
      // the failing call and the two behind it: one error, never a success
      expect(outcomes.slice(2)).toEqual(["error: ouch", "error: ouch", "error: ouch"]);
    });
  });

  it("times every call of a remote checkout in its deferred log (t/logger.t)", async () => {
    const logger = createDeferredLog();
    await run(function* () {
      const connect = yield* taskServer();
      const client = yield* usePool<Aet>({ connect, maxWorkers: 1 });
      const checkout = yield* client.checkout({ logger });
      for (let i = 0; i < 5; i++) yield* checkout.api.identity(i);
    });
    const { timers } = logger.end();
    expect(timers.map(([name]) => name)).toEqual([
      "identity",
      "identity",
      "identity",
      "identity",
      "identity",
    ]);
    for (const [, start, end] of timers) expect(end).toBeGreaterThanOrEqual(start);
  });

  it("fails the running call with a manual abort, and every later call with the same fatal error (t/manual-request-abort.t)", async () => {
    await run(function* () {
      const connect = yield* taskServer();
      const client = yield* usePool<Aet>({ connect });
      const checkout = yield* client.checkout({ timeoutMs: 20_000 });
      yield* checkout.api.get_pid(); // the worker is there
      const sleeping = yield* spawn(() => settle(checkout.api.sleep_die(10_000)));
      yield* sleep(0); // one turn: the call is sent before the abort
      const abort = new Error("manual request abort");
      yield* checkout.fail(abort);
      const { error } = yield* sleeping;
      expect(error).toBe(abort);
      expect(error).not.toBeInstanceOf(TimeoutError);
      const later = yield* settle(checkout.api.get_pid());
      expect(later.error).toBeInstanceOf(CheckoutFatalError);
      expect(later.error.message).toMatch(/manual request abort/);
      expect(later.error.cause).toBe(abort);
    });
  });

  it("starts a new worker after maxCheckouts checkouts, and keeps serving (t/max_checkouts.t)", async () => {
    await run(function* () {
      const connect = yield* taskServer();
      const client = yield* usePool<Aet>({ connect, maxWorkers: 1, maxCheckouts: 2 });
      const worker = function* () {
        const checkout = yield* client.checkout();
        yield* checkout.api.get_pid();
        return checkout.worker?.threadId;
      };
      const first = yield* scoped(worker);
      expect(yield* scoped(worker)).toBe(first);
      expect(yield* scoped(worker)).not.toBe(first);
      expect(yield* client.run("success")).toBe(1);
      expect(yield* client.run("success")).toBe(1);
    });
  });

  it("serves checkouts first come, first served, a checkout's calls in order (t/sequential.t)", async () => {
    await run(function* () {
      const connect = yield* taskServer();
      const client = yield* usePool<Aet>({ connect, maxWorkers: 1 });
      const order: string[] = [];
      const a = yield* spawn(function* () {
        const checkout = yield* client.checkout();
        order.push(`A${yield* checkout.api.identity(1)}`);
        order.push(`A${yield* checkout.api.identity(2)}`);
      });
      const b = yield* spawn(function* () {
        order.push(`B${yield* client.run("identity", 1)}`);
      });
      const c = yield* spawn(function* () {
        order.push(`C${yield* client.run("identity", 1)}`);
      });
      yield* a;
      yield* b;
      yield* c;
      expect(order).toEqual(["A1", "A2", "B1", "C1"]);
    });
  });

  it("hands the setup's exception to the checkout, and a fresh worker (whose setup fails anew) to the next (t/setup-errors.t)", async () => {
    await run(function* () {
      const connect = yield* taskServer(fixture("aet-setup-fails-worker.ts"));
      const client = yield* usePool({ connect, maxWorkers: 1 });
      for (let i = 0; i < 2; i++) {
        const { error } = yield* settle(client.run("anything"));
        expect(error).toBeInstanceOf(SetupError);
        // a new worker each time: its own first attempt
        expect(error.message).toMatch(/setup failed: Error: SETUP EXCEPTION 1/);
      }
      expect(client.stats().spawned).toBe(2);
    });
  });

  it("runs setup once per worker, before its first call (t/setup.t)", async () => {
    await run(function* () {
      const connect = yield* taskServer();
      const client = yield* usePool<Aet>({ connect, maxWorkers: 1 });
      expect(yield* client.run("count")).toBe(101);
      expect(yield* client.run("count")).toBe(102);
    });
  });

  it("completes a surge of 100 checkouts with maxWorkers: 5, each with its own result (t/surge.t)", async () => {
    await run(function* () {
      const connect = yield* taskServer();
      const client = yield* usePool<Aet>({ connect, maxWorkers: 5 });
      const results: number[] = [];
      const tasks = [];
      for (let i = 1; i <= 100; i++) {
        tasks.push(
          yield* spawn(function* () {
            const value = yield* client.run("identity", i);
            expect(value).toBe(i);
            results.push(value as number);
          }),
        );
      }
      expect(results.length).toBe(0); // nothing is answered synchronously
      for (const task of tasks) yield* task;
      expect(results.length).toBe(100);
      expect(client.stats().peakWorkers).toBeLessThanOrEqual(5);
    });
  });

  it("times a checkout out when it cannot connect to the server at all (t/timeout-connect.t)", async () => {
    await run(function* () {
      const client = yield* usePool({ connect: { path: join(dir, "non-existent.sock") } });
      const checkout = yield* client.checkout({ timeoutMs: 200 });
      const { error } = yield* settle(checkout.call("anything"));
      expect(error).toBeInstanceOf(TimeoutError);
      expect(error.message).toMatch(/timed out after 200 ms/);
    });
  });

  it("kills a worker busy past the server's hungWorkerTimeoutMs: a lost connection, not a timeout (t/timeout-hung-worker.t)", async () => {
    const reaped: string[] = [];
    await run(function* () {
      const connect = yield* taskServer(undefined, {
        hungWorkerTimeoutMs: 1_000,
        onReap: ({ reason }) => reaped.push(reason),
      });
      const client = yield* usePool<Aet>({ connect });
      const checkout = yield* client.checkout({ timeoutMs: 20_000 });
      const { error } = yield* settle(checkout.api.sleep_die(3_000));
      expect(error).toBeInstanceOf(WorkerCrashedError);
      expect(error).not.toBeInstanceOf(TimeoutError);
      expect(error.message).toMatch(/connection to the worker server lost/);
    });
    expect(reaped).toEqual(["hung"]);
  });

  it("times out a call the worker takes too long over, with 'timed out after' (t/timeout-in-progress.t)", async () => {
    await run(function* () {
      const connect = yield* taskServer();
      const client = yield* usePool<Aet>({ connect });
      yield* client.run("success"); // a worker is up: the timeout is the call's alone
      const checkout = yield* client.checkout({ timeoutMs: 200 });
      const { error } = yield* settle(checkout.api.sleep_die(4_000));
      expect(error).toBeInstanceOf(TimeoutError);
      expect(error.message).toMatch(/timed out after 200 ms/);
    });
  });

  it("ends the timed-out call's timer in the checkout's deferred log (t/timeout-log-defer.t)", async () => {
    const logger = createDeferredLog();
    await run(function* () {
      const connect = yield* taskServer();
      const client = yield* usePool<Aet>({ connect });
      yield* client.run("success");
      const { error } = yield* settle(
        scoped(function* () {
          const checkout = yield* client.checkout({ timeoutMs: 200, logger });
          logger.warn("keep alive 1");
          return yield* checkout.api.sleep_die(4_000);
        }),
      );
      logger.warn("keep alive 2");
      expect(error).toBeInstanceOf(TimeoutError);
    });
    const { timers, logs } = logger.end();
    expect(timers.map(([name]) => name)).toEqual(["sleep_die"]);
    expect(timers[0][2]).toBeGreaterThanOrEqual(timers[0][1]); // ended at the timeout
    expect(logs.map((entry) => entry[2])).toEqual(["keep alive 1", "keep alive 2"]);
  });

  it("gives a sudden worker death to the call at once, and the same fatal error to every later call (t/worker-_exits.t)", async () => {
    await run(function* () {
      const connect = yield* taskServer();
      const client = yield* usePool<Aet>({ connect });
      const checkout = yield* client.checkout({ timeoutMs: 20_000 });
      const { error } = yield* settle(checkout.api.exit_mid_call(100));
      expect(error).toBeInstanceOf(WorkerCrashedError);
      expect(error).not.toBeInstanceOf(TimeoutError);
      const later = yield* settle(checkout.api.success());
      expect(later.error).toBeInstanceOf(CheckoutFatalError);
      expect(later.error.cause).toBe(error);
      const third = yield* settle(checkout.api.success());
      expect(third.error.cause).toBe(error);
    });
  });
});

// A client name travels in the hello frame: a worker server's refusals name the client.
describe("a client name on a worker server", () => {
  it("is in the server's refusal of a wrong token", async () => {
    const refused: string[] = [];
    await run(function* () {
      const connect = yield* taskServer(undefined, {
        token: "right",
        onRefused: (error) => refused.push(error.message),
      });
      const client = yield* usePool({ connect, token: "wrong", name: "billing" });
      yield* settle(client.run("success"));
    });
    expect(refused.length).toBe(1);
    expect(refused[0]).toMatch(/unauthorized.*client "billing"/);
  });
});
