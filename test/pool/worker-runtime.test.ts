import { run } from "effection";
import { describe, expect, it } from "vitest";
import { type defineWorker, log, usePool } from "../../src/pool/index.js";
import type { ClientFrame, WorkerFrame } from "../../src/pool/protocol.js";
import { startWorkerRuntime } from "../../src/pool/worker-runtime.js";
import { realWorkerTests } from "../helpers/real-workers.js";
import { settle } from "../helpers/settle.js";
import type echoWorker from "./fixtures/echo-worker.js";
import { eventually, echoWorkerFile as worker } from "./helpers.js";

realWorkerTests();

type Echo = typeof echoWorker;

/** Runs the worker runtime in this thread over an in-memory channel. */
function inMemory(definition: Parameters<typeof defineWorker>[0]) {
  const sent: WorkerFrame[] = [];
  let deliver: (frame: ClientFrame) => void = () => {};
  const exits: number[] = [];
  startWorkerRuntime(
    definition as never,
    {
      send: (frame) => sent.push(frame),
      listen: (handler) => {
        deliver = handler;
      },
    },
    (code) => exits.push(code),
  );
  return { sent, send: (frame: ClientFrame) => deliver(frame), exits };
}

describe("worker runtime", () => {
  it("says ready after setup, then answers frames one at a time in order", async () => {
    const order: string[] = [];
    const w = inMemory({
      async setup() {
        await new Promise((resolve) => setTimeout(resolve, 5));
        order.push("setup");
      },
      interface: {
        async slow(x: number) {
          order.push(`slow ${x}`);
          await new Promise((resolve) => setTimeout(resolve, 10));
          return x;
        },
        fast(x: number) {
          order.push(`fast ${x}`);
          return x;
        },
      },
    });
    w.send(["do", {}, "slow", [1]]);
    w.send(["do", {}, "fast", [2]]);
    await eventually(() => w.sent.length === 3);
    expect(w.sent[0][0]).toBe("rd");
    expect(w.sent.slice(1)).toEqual([
      ["ok", {}, 1],
      ["ok", {}, 2],
    ]);
    expect(order).toEqual(["setup", "slow 1", "fast 2"]);
  });

  it("reports a throwing setup in its ready frame and answers every call with that error", async () => {
    const w = inMemory({
      setup() {
        throw new Error("no database");
      },
      interface: { x: () => 1 },
    });
    w.send(["do", {}, "x", []]);
    await eventually(() => w.sent.length === 2);
    expect(w.sent[0]).toMatchObject(["rd", { setup: { message: "no database" } }]);
    expect(w.sent[1]).toMatchObject(["er", {}, { message: "no database" }]);
  });

  it("sends the call's deferred log with its reply, and drops log writes outside a call", async () => {
    log.info("outside any call");
    const w = inMemory({
      interface: {
        work() {
          log.warn("careful", 1);
          return "done";
        },
        quiet: () => "q",
      },
    });
    w.send(["do", {}, "work", []]);
    w.send(["do", {}, "quiet", []]);
    await eventually(() => w.sent.length === 3);
    const [, meta, result] = w.sent[1] as ["ok", { log: any }, string];
    expect(result).toBe("done");
    expect(meta.log.logs).toHaveLength(1);
    expect(meta.log.logs[0].slice(1)).toEqual([20, "careful", 1]);
    expect(w.sent[2]).toEqual(["ok", {}, "q"]);
  });

  it("exits the worker when its checkoutDone throws", async () => {
    const w = inMemory({
      checkoutDone() {
        throw new Error("cleanup failed");
      },
      interface: { x: () => 1 },
    });
    const error = console.error;
    console.error = () => {};
    try {
      w.send(["dn", {}]);
      await eventually(() => w.exits.length === 1);
    } finally {
      console.error = error;
    }
    expect(w.exits).toEqual([1]);
  });

  it("runs setup once per worker, before its first call", async () => {
    const setups = await run(function* () {
      const pool = yield* usePool<Echo>({ worker, maxWorkers: 1 });
      for (let i = 0; i < 3; i++) yield* pool.run("inc", i);
      const checkout = yield* pool.checkout();
      yield* checkout.call("inc", 1);
      return yield* checkout.call("setups");
    });
    expect(setups).toBe(1);
  });

  it("runs the worker's checkoutDone on each normal release, not after an error", async () => {
    const dones = await run(function* () {
      const pool = yield* usePool<Echo>({ worker, maxWorkers: 1, dontReforkAfterError: true });
      yield* pool.run("inc", 1);
      yield* pool.run("inc", 2);
      yield* settle(pool.run("fail", "x"));
      return yield* pool.run("dones");
    });
    expect(dones).toBe(2);
  });
});
