import type { ClientFrame, ReadyMeta, WorkerFrame } from "./protocol.js";

/**
 * One connection to one worker (a thread, a child process, or a socket to a
 * worker server): the thin edge every transport implements. The pool sets
 * `onFrame` and `onExit` once the worker is ready.
 */
export interface WorkerLink {
  /** Resolves when the worker said ready; rejects (SpawnError, or a connect error) otherwise. */
  readonly ready: Promise<ReadyMeta>;
  /** Sends a frame. Throws `SerializationError` at once when it cannot be encoded. */
  send(frame: ClientFrame): void;
  /** Called for every frame after `ready`. */
  onFrame: (frame: WorkerFrame) => void;
  /** Called once when the worker goes away without being killed by {@link WorkerLink.kill}. */
  onExit: (error: Error) => void;
  /** Ends the worker; resolves once it is confirmed gone (thread terminated, process reaped, socket closed). Idempotent. */
  kill(): Promise<void>;
}

/** Opens links: one per worker. */
export type LinkFactory = () => WorkerLink;

export const noop = () => {};

/** `workerData` key that tells `defineWorker` it runs in a pool thread. */
export const THREAD_MARK = "bough.pool.worker";
/** Environment variable that tells `defineWorker` how its process was started. */
export const MODE_ENV = "BOUGH_POOL_MODE";
/** Environment variable carrying a forked worker server's options (JSON). */
export const SERVE_ENV = "BOUGH_POOL_SERVE";
/** Environment variable that asks a socket worker to report its calls in flight (`bough.activity`) over IPC. */
export const ACTIVITY_ENV = "BOUGH_POOL_ACTIVITY";
/** Environment variable carrying a socket worker's frame size limit. */
export const MAX_FRAME_ENV = "BOUGH_POOL_MAX_FRAME";

/**
 * The start of every link: the worker sends `["rd", meta]` when it is ready;
 * frames before that are ignored, frames after it are the link's. One place
 * for the promise and its state, used by the thread, process and socket links.
 *
 * @example
 * ```ts
 * const handshake = new ReadyHandshake();
 * port.on("message", (frame) => {
 *   if (handshake.accept(frame)) link.onFrame(frame);
 * });
 * port.on("exit", () => handshake.fail(new SpawnError("exited before it was ready")));
 * await handshake.ready;
 * ```
 */
export class ReadyHandshake {
  /** Resolves with the worker's ready metadata; rejects through {@link ReadyHandshake.fail}. */
  readonly ready: Promise<ReadyMeta>;
  /** True once the worker said ready. */
  isReady = false;
  private resolve!: (meta: ReadyMeta) => void;
  private reject!: (error: Error) => void;

  constructor() {
    this.ready = new Promise<ReadyMeta>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.ready.catch(noop); // a link nobody waits on must not raise an unhandled rejection
  }

  /** Takes one frame: true if it belongs to the link (the worker is ready and it is not the ready frame). */
  accept(frame: WorkerFrame): boolean {
    if (this.isReady) return true;
    if (frame[0] === "rd") {
      this.isReady = true;
      this.resolve(frame[1]);
    }
    return false;
  }

  /** Rejects `ready` (a no-op once the worker was ready). */
  fail(error: Error): void {
    if (!this.isReady) this.reject(error);
  }
}
