import { run } from "effection";
import { describe, expect, it } from "vitest";
import { defineWorker, TaskError, usePool } from "../../src/pool/index.js";
import { realWorkerTests } from "../helpers/real-workers.js";
import { settle } from "../helpers/settle.js";
import type echoWorker from "./fixtures/echo-worker.js";
import { echoWorkerFile } from "./helpers.js";

realWorkerTests();

const functionWorker = new URL("./fixtures/function-worker.js", import.meta.url);
type FunctionWorker = (...args: unknown[]) => { args: unknown[]; pid: number };

describe("defineWorker", () => {
  it("returns the definition and starts nothing outside a pool worker", () => {
    const definition = defineWorker({ interface: { ping: () => "pong" } });
    expect(definition.interface.ping()).toBe("pong");
  });

  it("rejects an interface that is neither a function nor a method map", () => {
    expect(() => defineWorker({ interface: 42 as never })).toThrow(TypeError);
  });

  it("runs .js worker files in threads and in processes, as well as .ts ones", async () => {
    for (const transport of ["thread", "process"] as const) {
      const result = await run(function* () {
        const js = yield* usePool<FunctionWorker>({
          worker: functionWorker,
          transport,
          maxWorkers: 1,
        });
        const ts = yield* usePool<typeof echoWorker>({
          worker: echoWorkerFile,
          transport,
          maxWorkers: 1,
        });
        return { js: yield* js.run(1, 2), ts: yield* ts.run("inc", 1) };
      });
      expect(result.js.args).toEqual([1, 2]);
      expect(result.ts).toBe(2);
    }
  });

  it("calls a function interface with the arguments, a string first argument included (AnyEvent's method form)", async () => {
    await run(function* () {
      const pool = yield* usePool<FunctionWorker>({ worker: functionWorker, maxWorkers: 1 });
      const checkout = yield* pool.checkout();
      expect((yield* checkout.call("hash", "secret")).args).toEqual(["hash", "secret"]);
      expect((yield* checkout.api(3, 4)).args).toEqual([3, 4]);
      expect((yield* checkout.call()).args).toEqual([]);
    });
  });

  it("fails a call of a method the worker does not have with a TaskError", async () => {
    const { error } = await run(function* () {
      const pool = yield* usePool({ worker: echoWorkerFile, maxWorkers: 1 });
      return yield* settle(pool.run("nope", 1));
    });
    expect(error).toBeInstanceOf(TaskError);
    expect(error.remoteName).toBe("TypeError");
    expect(error.message).toMatch(/no method "nope"/);
  });
});
