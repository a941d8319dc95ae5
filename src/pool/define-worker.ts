import type { Socket } from "node:net";
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import {
  type ClientFrame,
  type PackedClientFrame,
  packWorkerFrame,
  unpackClientFrame,
  type WorkerFrame,
} from "./protocol.js";
import type { WorkerDefinition, WorkerInterface } from "./worker-definition.js";
import { ACTIVITY_ENV, MAX_FRAME_ENV, MODE_ENV, SERVE_ENV, THREAD_MARK } from "./worker-link.js";
import { startSocketWorker, startWorkerRuntime } from "./worker-runtime.js";

let activated = false;

/**
 * Defines a worker. Export the result as the default export of the worker
 * file; the pool starts that file in a thread, a process or a worker server,
 * where this call notices it and starts serving calls. Imported anywhere else
 * it only returns the definition (use its type to type the pool).
 *
 * `interface` is one function or a map of methods; arguments and results
 * travel by structured clone (threads, processes) or JSON (sockets). `setup`
 * runs once per worker before its first call; `checkoutDone` runs in the
 * worker whenever a checkout is released without error.
 *
 * @example
 * ```ts
 * // hash-worker.ts
 * import { defineWorker, log } from "bough/pool";
 * import bcrypt from "bcryptjs";
 *
 * export default defineWorker({
 *   interface: {
 *     hash: (password: string) => bcrypt.hashSync(password, 10),
 *     verify: (hash: string, password: string) => bcrypt.compareSync(password, hash),
 *   },
 * });
 *
 * // main.ts
 * const pool = yield* usePool<typeof import("./hash-worker.js").default>({
 *   worker: new URL("./hash-worker.ts", import.meta.url),
 * });
 * const hashed = yield* pool.run("hash", "secret"); // string
 * ```
 */
export function defineWorker<const I extends WorkerInterface>(
  definition: WorkerDefinition<I>,
): WorkerDefinition<I> {
  const iface = definition.interface as unknown;
  if (typeof iface !== "function" && (typeof iface !== "object" || iface === null)) {
    throw new TypeError("defineWorker: `interface` must be a function or an object of methods");
  }
  if (!activated) activate(definition as WorkerDefinition);
  return definition;
}

function activate(definition: WorkerDefinition): void {
  if (!isMainThread && parentPort && workerData?.[THREAD_MARK] === "thread") {
    activated = true;
    const port = parentPort;
    setImmediate(() =>
      startWorkerRuntime(
        definition,
        {
          send: (frame: WorkerFrame) => port.postMessage(packWorkerFrame(frame)),
          listen: (handler: (frame: ClientFrame) => void) =>
            port.on("message", (packed: PackedClientFrame) => handler(unpackClientFrame(packed))),
        },
        (code) => process.exit(code),
      ),
    );
    return;
  }
  const mode = process.env[MODE_ENV];
  if (mode === "process" && process.send) {
    activated = true;
    delete process.env[MODE_ENV];
    process.on("disconnect", () => process.exit(0));
    setImmediate(() =>
      startWorkerRuntime(
        definition,
        {
          send: (frame: WorkerFrame) => {
            process.send!(packWorkerFrame(frame));
          },
          listen: (handler: (frame: ClientFrame) => void) => {
            process.on("message", (packed: PackedClientFrame) =>
              handler(unpackClientFrame(packed)),
            );
          },
        },
        (code) => process.exit(code),
      ),
    );
    return;
  }
  if (mode === "socket" && process.send) {
    activated = true;
    const maxFrameBytes = Number(process.env[MAX_FRAME_ENV]) || undefined;
    const activity = process.env[ACTIVITY_ENV] === "1";
    delete process.env[MODE_ENV];
    delete process.env[MAX_FRAME_ENV];
    delete process.env[ACTIVITY_ENV];
    process.on("disconnect", () => process.exit(0));
    process.on("message", (message: unknown, handle: unknown) => {
      if (message === "bough.socket" && handle) {
        startSocketWorker(
          definition,
          handle as Socket,
          (text, done) =>
            process.send!({ type: "bough.protocol-error", message: text }, undefined, {}, done),
          maxFrameBytes,
          activity ? (inflight) => process.send!({ type: "bough.activity", inflight }) : undefined,
        );
      }
    });
    setImmediate(() => process.send!({ type: "bough.want-socket" }));
    return;
  }
  if (mode === "serve" && process.send) {
    activated = true;
    const config = process.env[SERVE_ENV];
    delete process.env[MODE_ENV];
    delete process.env[SERVE_ENV];
    // Loaded here only: a worker that serves calls never loads the server (nor effection).
    import("./serve-workers.js").then(
      ({ runWorkerServerProcess }) => runWorkerServerProcess(JSON.parse(config ?? "{}")),
      (error) => {
        console.error("bough/pool: the worker server failed to load", error);
        process.exit(1);
      },
    );
  }
}
