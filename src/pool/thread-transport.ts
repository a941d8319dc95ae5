import { Worker } from "node:worker_threads";
import {
  SerializationError,
  SpawnError,
  WorkerCrashedError,
  WorkerResourceLimitError,
} from "./errors.js";
import {
  type ClientFrame,
  type PackedWorkerFrame,
  packClientFrame,
  type ReadyMeta,
  unpackWorkerFrame,
  type WorkerFrame,
} from "./protocol.js";
import { needsTsx, tsxApiUrl } from "./worker-file.js";
import { noop, ReadyHandshake, THREAD_MARK, type WorkerLink } from "./worker-link.js";

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

class ThreadLink implements WorkerLink {
  readonly ready: Promise<ReadyMeta>;
  onFrame: (frame: WorkerFrame) => void = noop;
  onExit: (error: Error) => void = noop;
  private readonly worker: Worker;
  private readonly gone: Promise<void>;
  private readonly handshake = new ReadyHandshake();
  private killed = false;
  private lastError: unknown;

  constructor(file: URL, options: ThreadLinkOptions) {
    const workerData = { [THREAD_MARK]: "thread" };
    const execArgv = options.execArgv ?? [];
    const { resourceLimits } = options;
    this.worker = needsTsx(file)
      ? new Worker(
          `import(${JSON.stringify(tsxApiUrl())}).then((tsx) => { tsx.register(); return import(${JSON.stringify(file.href)}); });`,
          { eval: true, workerData, execArgv, resourceLimits },
        )
      : new Worker(file, { workerData, execArgv, resourceLimits });
    this.ready = this.handshake.ready;
    this.worker.on("message", (packed: PackedWorkerFrame) => {
      const frame = unpackWorkerFrame(packed);
      if (this.handshake.accept(frame)) this.onFrame(frame);
    });
    this.worker.on("error", (error) => {
      this.lastError = error;
    });
    this.gone = new Promise<void>((resolve) => {
      this.worker.once("exit", (code) => {
        resolve();
        if (this.killed) {
          this.handshake.fail(new SpawnError("the worker thread was stopped before it was ready"));
          return;
        }
        if (!this.handshake.isReady) {
          this.handshake.fail(
            new SpawnError(
              this.lastError
                ? `worker thread ${file.href} failed to start: ${String(this.lastError)}`
                : `worker thread ${file.href} exited with code ${code} before it was ready (does it export defineWorker(...)?)`,
              { cause: this.lastError },
            ),
          );
        } else if ((this.lastError as { code?: string })?.code === "ERR_WORKER_OUT_OF_MEMORY") {
          this.onExit(
            new WorkerResourceLimitError(
              `worker thread went past its resourceLimits: ${(this.lastError as Error).message}`,
              code,
              { cause: this.lastError },
            ),
          );
        } else {
          this.onExit(
            new WorkerCrashedError(
              this.lastError
                ? `worker thread crashed: ${String(this.lastError)}`
                : `worker thread exited with code ${code}`,
              code,
              { cause: this.lastError },
            ),
          );
        }
      });
    });
  }

  send(frame: ClientFrame): void {
    try {
      this.worker.postMessage(packClientFrame(frame));
    } catch (error) {
      throw SerializationError.forFrame(frame, "a worker thread", error);
    }
  }

  kill(): Promise<void> {
    if (!this.killed) {
      this.killed = true;
      this.worker.terminate().catch(noop);
    }
    return this.gone;
  }
}
