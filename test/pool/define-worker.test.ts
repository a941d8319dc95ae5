import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { type Operation, run } from "effection";
import { describe, expect, it, vi } from "vitest";
import { defineWorker, TaskError, usePool } from "../../src/pool/index.js";
import * as workerEntry from "../../src/pool/worker.js";
import { checkLeaksAfterEach } from "../helpers/leaks.js";
import type echoWorker from "./fixtures/echo-worker.js";
import { checkThreadsAfterEach, echoWorkerFile } from "./helpers.js";

checkLeaksAfterEach();
// Real workers on a shared 2-core machine: generous bounds.
vi.setConfig({ testTimeout: 60_000 });
checkThreadsAfterEach();

const functionWorker = new URL("./fixtures/function-worker.js", import.meta.url);
type FunctionWorker = (...args: unknown[]) => { args: unknown[]; pid: number };

function* settle<T>(op: Operation<T>): Operation<{ value?: T; error?: any }> {
  try {
    return { value: yield* op };
  } catch (error) {
    return { error };
  }
}

/** Every module a source file and its static relative imports pull in, and the packages. */
function staticGraph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    // without comments: JSDoc examples show imports too
    const source = readFileSync(file, "utf8")
      .replace(/\/\*[\s\S]*?\*\//g, "")
      .replace(/^\s*\/\/.*$/gm, "");
    for (const match of source.matchAll(/(?:import|export)\s[^"']*?from\s+["']([^"']+)["']/g)) {
      if (/^(?:import|export)\s+type\s/.test(match[0])) continue;
      const spec = match[1];
      if (spec.startsWith(".")) visit(resolve(dirname(file), spec.replace(/\.js$/, ".ts")));
      else packages.add(spec);
    }
  };
  visit(resolve(entry));
  return { files, packages };
}

describe("bough/pool/worker", () => {
  it("gives a worker file defineWorker and log without loading effection or the pool's client side", () => {
    const { files, packages } = staticGraph(join(process.cwd(), "src", "pool", "worker.ts"));
    expect([...packages].filter((p) => !p.startsWith("node:"))).toEqual([]);
    const names = [...files].map((f) => f.split("/").pop());
    expect(names).not.toContain("pool.ts");
    expect(names).not.toContain("serve-workers.ts");
    expect(Object.keys(workerEntry).sort()).toEqual(["defineWorker", "log"]);
  });
});

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
