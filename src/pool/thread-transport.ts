import { Worker } from "node:worker_threads";
import { SpawnError, WorkerCrashedError, WorkerResourceLimitError } from "./errors.js";
import {
  type ClientFrame,
  type PackedWorkerFrame,
  packClientFrame,
  unpackWorkerFrame,
} from "./protocol.js";
import { needsTsx, tsxApiUrl } from "./worker-file.js";
import { noop, THREAD_MARK, type WorkerLink, WorkerLinkBase } from "./worker-link.js";

/** Options of {@link openThreadLink}. */
export interface ThreadLinkOptions {
  /** Node flags for the thread. Default: none. */
  execArgv?: string[];
  /** Resource limits of the thread (heap sizes, stack). */
  resourceLimits?: ConstructorParameters<typeof Worker>[1] extends infer O
    ? O extends { resourceLimits?: infer R }
      ? R
      : never
    : never;
}

/**
 * Starts the worker file in a new worker thread and returns its link. A `.ts`
 * file (or bough running from source) is loaded through tsx, which the thread
 * registers itself (Node 20 ignores `--import` in a Worker's `execArgv`).
 * Frames travel by structured clone over the thread's MessagePort.
 *
 * @example
 * ```ts
 * const link = openThreadLink(new URL("./worker.ts", import.meta.url));
 * const { threadId } = await link.ready;
 * await link.kill(); // resolves once the thread has terminated
 * ```
 */
export function openThreadLink(file: URL, options: ThreadLinkOptions = {}): WorkerLink {
  return new ThreadLink(file, options);
}

class ThreadLink extends WorkerLinkBase {
  private readonly worker: Worker;

  constructor(file: URL, options: ThreadLinkOptions) {
    super("the worker thread was stopped before it was ready");
    const workerData = { [THREAD_MARK]: "thread" };
    const execArgv = options.execArgv ?? [];
    const { resourceLimits } = options;
    this.worker = needsTsx(file)
      ? new Worker(
          `import(${JSON.stringify(tsxApiUrl())}).then((tsx) => { tsx.register(); return import(${JSON.stringify(file.href)}); });`,
          { eval: true, workerData, execArgv, resourceLimits },
        )
      : new Worker(file, { workerData, execArgv, resourceLimits });
    this.worker.on("message", (packed: PackedWorkerFrame) =>
      this.receive(unpackWorkerFrame(packed)),
    );
    this.worker.on("error", (error) => {
      this.lastError = error;
    });
    this.worker.once("exit", (code) => {
      const cause = this.lastError;
      this.ended(
        () =>
          new SpawnError(
            cause
              ? `worker thread ${file.href} failed to start: ${String(cause)}`
              : `worker thread ${file.href} exited with code ${code} before it was ready (does it export defineWorker(...)?)`,
            { cause },
          ),
        () =>
          (cause as { code?: string })?.code === "ERR_WORKER_OUT_OF_MEMORY"
            ? new WorkerResourceLimitError(
                `worker thread went past its resourceLimits: ${(cause as Error).message}`,
                code,
                { cause },
              )
            : new WorkerCrashedError(
                cause
                  ? `worker thread crashed: ${String(cause)}`
                  : `worker thread exited with code ${code}`,
                code,
                { cause },
              ),
      );
    });
  }

  send(frame: ClientFrame): void {
    this.post(
      frame,
      packClientFrame(frame),
      (packed) => this.worker.postMessage(packed),
      "a worker thread",
    );
  }

  protected stop(): void {
    this.worker.terminate().catch(noop);
  }
}
